"""gunicorn settings: ``gunicorn bnpl.wsgi:application -c gunicorn.conf.py``.

Every value can be overridden from the environment. With ``PROMETHEUS_MULTIPROC_DIR``
set, each worker writes its metrics to files in that directory and ``/metrics`` merges
them; the directory is emptied at start and a dead worker's live gauges are dropped.
"""
import os
import shutil

from gunicorn.glogging import Logger

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))  # below nginx's upstream keepalive_timeout
# No recycling by default: a new worker every ~2,000 requests imported the whole project under
# load (a quarter of the throughput and the p99 went to boots, bench/RESULTS.md "Request path").
# Nothing here is known to leak; set GUNICORN_MAX_REQUESTS if something ever does.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "200"))
# Heartbeat files in RAM: a disk-backed /tmp can stall workers into false timeouts (gunicorn docs).
_SHM = "/dev/shm"  # noqa: S108 - gunicorn's recommended heartbeat location, not a data file
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or (_SHM if os.path.isdir(_SHM) else None)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")  # only the proxy can reach us
# The application logs one JSON access line per request (logger ``bnpl.access``).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")


class RedactingLogger(Logger):
    """gunicorn's logger, with no access line of its own unless ``accesslog`` is set.

    (With ``logconfig_dict`` set gunicorn would otherwise build one for every request, beside
    the application's ``bnpl.access`` line.)
    """

    def access(self, resp, req, environ, request_time):
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = RedactingLogger
# gunicorn's own lines (a malformed request line, a worker timeout, a crash) go through the
# application's redaction and JSON format: an "Invalid request" warning quotes the raw request
# line, which can carry a phone or passport number in its query string.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "bnpl.logging.RedactPersonalDataFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"],
                    "stream": "ext://sys.stderr"},
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    # No "level" for gunicorn.error: gunicorn has just set it from ``loglevel``.
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "propagate": False},
    },
}


def on_starting(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        # Files from a previous run would be merged into this one's counters.
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)


def post_worker_init(worker):
    """Import the URLconf (every view, serializer and the schema) and compile its patterns before the
    worker takes its first request: Django does it lazily, on a request, which made the first requests
    of a new worker wait a second or more under load.

    Then move everything alive at that point (the modules, classes and settings of the whole
    project, which live as long as the worker) out of the garbage collector's sight with
    ``gc.freeze()``: each full collection walked all of them again, a pause of tens of milliseconds
    that the requests running at that moment waited through. It doubled the p99 of a page of
    customers (bench/RESULTS.md, "Request path, fourth pass"). Objects made later are collected as
    before; a frozen object is still freed when its last reference goes.
    """
    import gc

    from django.urls import get_resolver

    get_resolver().reverse_dict  # noqa: B018 - imports every URLconf module and compiles every pattern
    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
