"""Real processes for the fault tests: a private redis-server, Celery workers, a gunicorn server.

Every process is started in its own session (process group) and the context managers kill
the whole group on the way out, whatever happened inside. Ports come from the kernel (bind
to port 0), so tests run side by side under pytest-xdist. Every wait is a poll with a deadline.

The worker and the web server run with the production settings (``bnpl.settings.production``)
and the suite's secrets, on the test database: what is tested is what is deployed.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis
from django.conf import settings

STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.05,
               message: str = "condition") -> None:
    """Poll ``predicate`` until it is truthy; ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message}: not reached within {timeout:.1f}s")
        time.sleep(interval)


def production_env(*, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a deployed process, on the test database and the given Redis."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DJANGO_", "CELERY_", "PYTEST_", "GUNICORN_", "BNPL_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "bnpl.settings.production",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "BNPL_FIELD_ENCRYPTION_KEYS": ",".join(settings.BNPL_FIELD_ENCRYPTION_KEYS),
        "BNPL_LOOKUP_HASH_KEY": settings.BNPL_LOOKUP_HASH_KEY,
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on the loopback, no TLS proxy in front
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    })
    return env


class Process:
    """A child process in its own process group, its output in a temporary file."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None, name: str = ""):
        self.name = name or os.path.basename(args[0])
        self.log = tempfile.TemporaryFile()
        self.popen = subprocess.Popen(  # noqa: S603 - our own binaries and arguments
            args, cwd=settings.BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass  # already gone

    def kill(self) -> None:
        """SIGKILL the whole group and reap the leader: no cleanup code of the child runs."""
        self.signal_group(signal.SIGKILL)
        self.popen.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still there after ``STOP_TIMEOUT_S``. Idempotent."""
        if self.alive():
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        self.signal_group(signal.SIGKILL)  # stragglers of the group (e.g. gunicorn workers)
        self.popen.wait(timeout=STOP_TIMEOUT_S)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.log.close()


@contextmanager
def owned(process: Process) -> Iterator[Process]:
    """Stop the process on the way out; print its output if the block failed (pytest shows it)."""
    try:
        yield process
    except BaseException:
        print(f"--- {process.name} (pid {process.pid}) output ---\n{process.output()[-20000:]}")
        raise
    finally:
        process.close()


class RedisServer:
    """A private, non-persistent redis-server that a test may kill and restart on the same port."""

    def __init__(self, port: int | None = None):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Process | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2, socket_timeout=1)

    def _pings(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        assert self.process is None or not self.process.alive(), "already running"
        if self.process is not None:
            self.process.close()
        self.process = Process([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
                               name="redis-server")
        wait_until(self._pings, timeout=10, message=f"redis-server on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: everything it held (queues, unacked messages) is gone, as after a crash."""
        assert self.process is not None
        self.process.kill()
        wait_until(lambda: not self._pings(), timeout=5, message="redis-server down")

    def close(self) -> None:
        if self.process is not None:
            self.process.close()


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """This process's Celery app publishes to ``url`` for real (not eagerly) inside the block."""
    from bnpl.celery import app

    def reset_pools() -> None:
        # Only drop the app's references: kombu keeps its pools in a global registry keyed by URL,
        # and a force-closed pool there would refuse every later publish to that URL.
        app._pool = None
        app.amqp._producer_pool = None

    conf = app.conf
    saved = conf.broker_url, conf.task_always_eager
    reset_pools()
    conf.broker_url, conf.task_always_eager = url, False
    try:
        yield
    finally:
        reset_pools()
        conf.broker_url, conf.task_always_eager = saved


def start_celery_worker(*, broker_url: str, database_url: str, node_name: str = "", **env: str) -> Process:
    """A real ``celery -A bnpl worker`` (solo pool: one process, so SIGKILL leaves no orphan child).

    ``node_name`` (``-n``, e.g. ``"probe-1@%h"``) defaults to a unique one.
    Returns once the worker has said it is ready (it consumes from then on).
    """
    worker = Process(
        [sys.executable, "-m", "celery", "-A", "bnpl", "worker", "-P", "solo", "-l", "INFO", "--without-heartbeat",
         "--without-gossip", "--without-mingle", "-n", node_name or f"faults-{uuid.uuid4().hex[:8]}@%h"],
        env=production_env(database_url=database_url, redis_url=broker_url, **env), name="celery worker")
    try:
        wait_until(lambda: " ready." in worker.output() or not worker.alive(), timeout=20, interval=0.1,
                   message="celery worker ready")
        if not worker.alive():
            raise RuntimeError(f"celery worker exited at start:\n{worker.output()[-5000:]}")
    except BaseException:
        worker.close()
        raise
    return worker


@contextmanager
def gunicorn_server(*, database_url: str, redis_url: str, **env: str) -> Iterator[str]:
    """gunicorn with the deployment's config (``gunicorn.conf.py``); yields its base URL."""
    port = free_port()
    server = Process(
        [sys.executable, "-m", "gunicorn", "bnpl.wsgi:application", "-c", "gunicorn.conf.py"],
        env=production_env(database_url=database_url, redis_url=redis_url, GUNICORN_BIND=f"127.0.0.1:{port}",
                           GUNICORN_LOGLEVEL="warning", **env),
        name="gunicorn")
    base_url = f"http://127.0.0.1:{port}"
    with owned(server):
        # 60 s: on a machine shared by several suites, gunicorn can take this long to import Django.
        wait_until(lambda: _answers(f"{base_url}/api/v1/health/live/") or not server.alive(), timeout=60,
                   interval=0.1, message="gunicorn listening")
        if not server.alive():
            raise RuntimeError("gunicorn exited at start")
        yield base_url


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own loopback URL
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
