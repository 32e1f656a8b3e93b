"""gunicorn settings: ``gunicorn bnpl.wsgi:application -c gunicorn.conf.py``.

Every value can be overridden from the environment. With ``PROMETHEUS_MULTIPROC_DIR``
set, each worker writes its metrics to files in that directory and ``/metrics`` merges
them; the directory is emptied at start and a dead worker's live gauges are dropped.
"""
import os
import shutil

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))  # below nginx's upstream keepalive_timeout
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "200"))
# Heartbeat files in RAM: a disk-backed /tmp can stall workers into false timeouts (gunicorn docs).
_SHM = "/dev/shm"  # noqa: S108 - gunicorn's recommended heartbeat location, not a data file
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or (_SHM if os.path.isdir(_SHM) else None)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")  # only the proxy can reach us
# The application logs one JSON access line per request (logger ``bnpl.access``).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")


def on_starting(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        # Files from a previous run would be merged into this one's counters.
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
