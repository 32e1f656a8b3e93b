"""Prometheus metrics (``/metrics``), safe under several gunicorn workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment *before the process starts*
(Dockerfile, compose, k8s do), prometheus_client keeps every worker's samples in
memory-mapped files in that directory and ``ops.metrics.metrics_view`` merges them; gunicorn's
``child_exit`` hook (``gunicorn.conf.py``) marks dead workers. Without it (``make run``,
tests) the process-local default registry is served.

This module is the platform's part: the series each process records (HTTP requests,
replays, sweeps it ran). The ``/metrics`` view and the series read from the database at
scrape time belong to the ops app (``ops/metrics.py``).
"""
import logging
import re
import time
from functools import lru_cache

from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

logger = logging.getLogger(__name__)

# The *_created series double the output and are not needed by any dashboard here.
disable_created_metrics()

HTTP_REQUESTS = Counter(
    "bnpl_http_requests_total", "HTTP requests by route pattern, method and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "bnpl_http_request_duration_seconds", "HTTP request latency by route pattern, method and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IDEMPOTENT_REPLAYS = Counter(
    "bnpl_idempotent_replays_total", "Responses replayed for a repeated Idempotency-Key.",
)
SWEEP_DURATION = Histogram(
    "bnpl_overdue_sweep_duration_seconds", "Duration of overdue sweep runs observed by this process.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
SWEEP_ROWS = Counter(
    "bnpl_overdue_sweep_rows_total", "Rows changed by overdue sweep runs observed by this process, by kind.",
    ["kind"],
)
SWEEP_LAST_SUCCESS = Gauge(
    "bnpl_overdue_sweep_last_success_timestamp_seconds",
    "Unix time of the last successful overdue sweep observed by this process.",
    multiprocess_mode="max",
)

# Label values are bounded whatever a caller sends: a method outside this set counts as OTHER
# and a path that matched no URL pattern as ``unmatched``, so random methods or paths cannot
# grow /metrics (each new label value is a new series in every worker's files).
UNMATCHED_ROUTE = "unmatched"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_NAMED_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>")


def route_label(request) -> str:
    """The URL pattern that served ``request`` (``api/v1/users/<pk>/``), never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return UNMATCHED_ROUTE
    return _route_label(match.route)


@lru_cache(maxsize=1024)
def _route_label(route: str) -> str:
    # ``route`` is a pattern from the URLconf (a few dozen), never caller input: safe to cache,
    # and translating it on every request cost a third of the metrics' own time.
    return "/" + _regex_to_route(route)


def _regex_to_route(route: str) -> str:
    """``api/v1/^users/(?P<pk>[^/.]+)/$`` (DRF routers are regexes) as ``api/v1/users/<pk>/``."""
    out, i = [], 0
    while i < len(route):
        group = _NAMED_GROUP.match(route, i)
        if group:
            out.append(f"<{group['name']}>")
            depth, i = 1, group.end()
            while i < len(route) and depth:  # skip to the group's closing parenthesis
                if route[i] == "\\":
                    i += 1
                elif route[i] == "(":
                    depth += 1
                elif route[i] == ")":
                    depth -= 1
                i += 1
            continue
        ch = route[i]
        if ch == "\\" and i + 1 < len(route):
            out.append(route[i + 1])
            i += 2
            continue
        if ch not in "^$":
            out.append(ch)
        i += 1
    return "".join(out)


# (method, route, status) -> the two children. The label values are bounded (above), so this is
# too; looking the children up through ``.labels()`` cost more than the observation itself.
_CHILDREN: dict[tuple[str, str, int], tuple] = {}


def observe_request(*, method: str, route: str, status: int, duration_s: float) -> None:
    if method not in KNOWN_METHODS:
        method = "OTHER"
    children = _CHILDREN.get((method, route, status))
    if children is None:
        labels = {"method": method, "route": route, "status": str(status)}
        children = _CHILDREN[(method, route, status)] = (HTTP_REQUESTS.labels(**labels), HTTP_LATENCY.labels(**labels))
    children[0].inc()
    children[1].observe(duration_s)


def observe_idempotent_replay() -> None:
    IDEMPOTENT_REPLAYS.inc()


SWEEP_COUNT_KINDS = ("installments_marked_overdue", "users_marked_debt", "users_restored")


def observe_sweep(duration_s: float, counts: dict[str, int], *, finished_at: float | None = None) -> None:
    """Called by the overdue sweep after each run: ``observe_sweep(1.2, {"installments_marked_overdue": 3, ...})``.

    Unknown keys in ``counts`` are recorded too (as their own ``kind``); ``finished_at`` is a
    Unix time (default: now).
    """
    SWEEP_DURATION.observe(max(duration_s, 0.0))
    for kind, value in counts.items():
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            SWEEP_ROWS.labels(kind=kind).inc(value)
    SWEEP_LAST_SUCCESS.set(finished_at if finished_at is not None else time.time())
