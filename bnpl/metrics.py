"""Prometheus metrics (``/metrics``), safe under several gunicorn workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment *before the process starts*
(Dockerfile, compose, k8s do), prometheus_client keeps every worker's samples in
memory-mapped files in that directory and :func:`metrics_view` merges them; gunicorn's
``child_exit`` hook (``gunicorn.conf.py``) marks dead workers. Without it (``make run``,
tests) the process-local default registry is served.

Cross-process facts that live in the database (webhook inbox by state, the last overdue
sweep run) are read at scrape time, so they are right whichever process did the work.

``/metrics`` is meant for the internal network: nginx does not route it, and when
``BNPL_METRICS_TOKEN`` is set it also requires ``Authorization: Bearer <token>``.
"""
import hmac
import logging
import os
import re
import time
from functools import lru_cache

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from bnpl.errors import PROBLEM_CONTENT_TYPE, problem

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


class DatabaseCollector:
    """Facts read from the database at scrape time: webhook inbox by state, the last sweep run."""

    def collect(self):
        try:
            families = list(self._families())
        except Exception as exc:  # noqa: BLE001 - a database outage must not break the scrape
            logger.warning("metrics: database collector failed: %s", type(exc).__name__)
            families = []
        yield GaugeMetricFamily("bnpl_metrics_database_up",
                                "1 when the database-backed metrics below could be read at this scrape.",
                                value=1 if families else 0)
        yield from families

    def _families(self):
        from debt.models import SweepRun
        from webhooks.models import EventStatus, WebhookEvent

        events = GaugeMetricFamily("bnpl_webhook_events", "Stored merchant webhook events by processing state.",
                                   labels=["status"])
        by_status = dict(WebhookEvent.objects.values_list("status").annotate(n=Count("id")).order_by())
        for state in EventStatus.values:
            events.add_metric([state], by_status.get(state, 0))
        yield events

        run = (SweepRun.objects.filter(finished_at__isnull=False, skipped=False, error="")
               .order_by("-started_at").first())
        if run is not None:
            yield GaugeMetricFamily("bnpl_overdue_sweep_last_run_timestamp_seconds",
                                    "Unix time the last successful overdue sweep finished (from SweepRun).",
                                    value=run.finished_at.timestamp())
            yield GaugeMetricFamily("bnpl_overdue_sweep_last_run_duration_seconds",
                                    "Duration of the last successful overdue sweep (from SweepRun).",
                                    value=(run.duration_ms or 0) / 1000)
            rows = GaugeMetricFamily("bnpl_overdue_sweep_last_run_rows",
                                     "Rows changed by the last successful overdue sweep (from SweepRun).",
                                     labels=["kind"])
            for kind in SWEEP_COUNT_KINDS:
                rows.add_metric([kind], getattr(run, kind))
            yield rows


class _DefaultRegistryCollector:
    def collect(self):
        yield from REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistryCollector())
    registry.register(DatabaseCollector())
    return registry


def _authorized(request) -> bool:
    token = getattr(settings, "BNPL_METRICS_TOKEN", "") or os.environ.get("BNPL_METRICS_TOKEN", "")
    if not token:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_view(request):
    """``GET /metrics``: Prometheus text exposition format."""
    if not _authorized(request):
        response = JsonResponse(problem(401, "not_authenticated", "Not authenticated",
                                        "Send 'Authorization: Bearer <BNPL_METRICS_TOKEN>'."),
                                status=401, content_type=PROBLEM_CONTENT_TYPE)
        response["WWW-Authenticate"] = "Bearer"
        return response
    # Negotiated like prometheus_client's own exporters: 0.0.4 text by default, OpenMetrics on request.
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(scrape_registry()), content_type=content_type)
