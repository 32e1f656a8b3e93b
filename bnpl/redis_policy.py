"""What the service does when Redis (cache, rate-limit store, broker) is down: it fails open.

API.md §9-§10 (v1.1): with ``REDIS_URL`` set, a Redis outage at start or later makes the
service ``degraded``, never unready, and it recovers by itself. So every use of Redis on a
request's path goes through here:

- **Publishing a task** (:func:`publish`): fails fast and returns False; the caller relies on
  a durable row that beat re-drives (the webhook inbox), so the request still succeeds (the
  webhook still answers 202).
- **The rate limit** (``bnpl.throttling``): the request is allowed.

Each time it happens it is counted in ``bnpl_redis_fail_open_total{component}`` and logged
(the exception type only: messages can carry hosts or credentials). After a failure the
component skips Redis for ``COOLDOWN_S`` (a hanging Redis would otherwise cost every request a
socket timeout), then tries again: the first success closes the breaker, no restart needed.
"""
import logging
import threading
import time

from prometheus_client import Counter

logger = logging.getLogger(__name__)

COOLDOWN_S = 2.0
COMPONENTS = ("task_publish", "rate_limit")

FAIL_OPEN = Counter(
    "bnpl_redis_fail_open_total",
    "Operations that went ahead without Redis because it was unreachable, by component.",
    ["component"],
)


class Breaker:
    """Per Redis URL: open (skip Redis) for ``COOLDOWN_S`` after a failure, closed on the next success."""

    def __init__(self, component: str):
        assert component in COMPONENTS, component
        self.component = component
        self._open_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def allows(self, url: str) -> bool:
        return time.monotonic() >= self._open_until.get(url, 0.0)

    def failed(self, url: str, exc: BaseException | None = None) -> None:
        with self._lock:
            self._open_until[url] = time.monotonic() + COOLDOWN_S
        self.skipped(exc)

    def skipped(self, exc: BaseException | None = None) -> None:
        FAIL_OPEN.labels(component=self.component).inc()
        if exc is not None:
            logger.warning("redis unavailable for %s, failing open: %s", self.component, type(exc).__name__)

    def succeeded(self, url: str) -> None:
        if url in self._open_until:
            with self._lock:
                self._open_until.pop(url, None)


PUBLISH = Breaker("task_publish")
RATE_LIMIT = Breaker("rate_limit")


def publish(task, *, args: list | tuple = (), kwargs: dict | None = None) -> bool:
    """``task.apply_async(...)``; False (counted, logged, never raised) when the broker is unreachable.

    Eager (embedded mode, unit tests) the task runs here and its own errors propagate as usual.
    """
    if task.app.conf.task_always_eager:
        task.apply_async(args=args, kwargs=kwargs)
        return True
    broker = str(task.app.conf.broker_url)
    if not PUBLISH.allows(broker):
        PUBLISH.skipped()
        return False
    try:
        task.apply_async(args=args, kwargs=kwargs)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the caller's durable row is re-driven
        PUBLISH.failed(broker, exc)
        return False
    PUBLISH.succeeded(broker)
    return True
