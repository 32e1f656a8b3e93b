"""Health (API.md §9): the dashboard/JSON document, and the liveness and readiness probes.

Each check returns ``{"status": ..., **details}`` with status ``ok``, ``degraded``, ``down``
or ``disabled`` (not used in this deployment: the embedded mode without Redis). The overall
status is ``down`` (HTTP 503) only when the database is down, ``degraded`` when any other
check is not ok, else ``ok``.

Every check is bounded in time: Redis and Celery run in a small thread pool with socket
timeouts and a hard deadline, so the page answers within ~1.5 s even when Redis or the
broker hangs; database checks run in the request's thread under a statement timeout.
"""
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from drf_yasg import openapi
from drf_yasg.utils import swagger_auto_schema
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer, TemplateHTMLRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

import bnpl
from bnpl.authentication import ApiKeyAuthentication
from bnpl.models import Role
from bnpl.money import format_minor

logger = logging.getLogger(__name__)

VERSION = os.environ.get("BNPL_VERSION") or bnpl.__version__

OK, DEGRADED, DOWN, DISABLED = "ok", "degraded", "down", "disabled"

SOCKET_TIMEOUT_S = 0.5       # Redis connect/read
CELERY_PING_TIMEOUT_S = 0.5  # how long workers get to answer the broadcast ping
DEADLINE_S = 1.5             # hard limit for the Redis + Celery checks together
DB_STATEMENT_TIMEOUT_MS = 1000
STALE_SWEEP_INTERVALS = 3
WEBHOOK_BACKLOG_MAX_AGE_S = 300  # the re-drive runs every 30 s: older RECEIVED events mean it is stuck

# Bounded: if Redis hangs, at most this many threads wait on it; later checks time out in the queue.
_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _failure(exc: BaseException, started: float) -> dict:
    # The exception type only: messages can carry hosts or credentials from URLs.
    return {"status": DOWN, "error": type(exc).__name__, "latency_ms": _ms(started)}


def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=SOCKET_TIMEOUT_S, socket_timeout=SOCKET_TIMEOUT_S,
                                retry_on_timeout=False)


# --- the checks -----------------------------------------------------------------

def check_database() -> dict:
    started = time.perf_counter()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"SET LOCAL statement_timeout = {DB_STATEMENT_TIMEOUT_MS}")
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down", reported, never raised
        return {**_failure(exc, started), "vendor": connection.vendor}
    return {"status": OK, "latency_ms": _ms(started), "vendor": connection.vendor}


def check_redis() -> dict:
    if not settings.REDIS_AVAILABLE:
        return {"status": DISABLED, "mode": "embedded",
                "detail": "No reachable REDIS_URL at startup: the cache and rate limits are per process."}
    started = time.perf_counter()
    client = _redis_client(settings.REDIS_URL)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        return _failure(exc, started)
    finally:
        client.close()
    return {"status": OK, "latency_ms": _ms(started)}


def _queue_length(url: str, queue: str) -> int:
    # kombu's Redis transport keeps a queue as lists: "<queue>" and "<queue>\x06\x16<priority>".
    client = _redis_client(url)
    try:
        pipe = client.pipeline(transaction=False)
        for key in [queue] + [f"{queue}\x06\x16{p}" for p in (3, 6, 9)]:
            pipe.llen(key)
        return sum(pipe.execute())
    finally:
        client.close()


def check_celery() -> dict:
    broker = settings.CELERY_BROKER_URL
    if not settings.REDIS_AVAILABLE or not broker or broker.startswith("memory://"):
        return {"status": DISABLED, "mode": "in-process",
                "detail": "No broker: tasks run in-process (embedded mode)."}
    from kombu import Connection

    from bnpl.celery import app

    started = time.perf_counter()
    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    try:
        length = _queue_length(broker, queue) if broker.startswith(("redis://", "rediss://")) else None
        with Connection(broker, connect_timeout=SOCKET_TIMEOUT_S,
                        transport_options={"socket_connect_timeout": SOCKET_TIMEOUT_S,
                                           "socket_timeout": SOCKET_TIMEOUT_S + CELERY_PING_TIMEOUT_S,
                                           "max_retries": 0,
                                           # kombu blocks on BRPOP for 1 s by default while collecting replies.
                                           "polling_interval": 0.1}) as conn:
            replies = app.control.ping(timeout=CELERY_PING_TIMEOUT_S, connection=conn) or []
    except Exception as exc:  # noqa: BLE001
        return _failure(exc, started)
    workers = sorted(name for reply in replies for name in reply)
    return {"status": OK if workers else DOWN, "workers": len(workers), "worker_names": workers,
            "queue": queue, "queue_length": length, "latency_ms": _ms(started),
            **({} if workers else {"detail": "No worker answered the ping."})}


def check_overdue_sweep(now=None) -> dict:
    from debt.models import SweepRun

    now = now or timezone.now()
    interval = settings.BNPL_OVERDUE_SWEEP_SECONDS
    beat_expected = settings.REDIS_AVAILABLE  # the embedded mode has no beat: runs are by hand
    last = SweepRun.objects.filter(finished_at__isnull=False, skipped=False).order_by("-started_at").first()
    running = SweepRun.objects.filter(finished_at__isnull=True).order_by("-started_at").first()
    details: dict = {"interval_seconds": interval, "stale_after_seconds": interval * STALE_SWEEP_INTERVALS,
                     "running_since": running.started_at.isoformat() if running else None}
    if last is None:
        return {"status": DEGRADED if beat_expected else DISABLED, "last_run": None,
                "detail": "The overdue sweep has not run yet." if beat_expected
                else "No beat in embedded mode: run `manage.py sweep_overdue`.", **details}
    age = (now - last.finished_at).total_seconds()
    stale = age > interval * STALE_SWEEP_INTERVALS
    details.update({
        "last_run": {
            "started_at": last.started_at.isoformat(),
            "finished_at": last.finished_at.isoformat(),
            "duration_ms": last.duration_ms,
            "cutoff_date": last.cutoff_date.isoformat(),
            "installments_marked_overdue": last.installments_marked_overdue,
            "users_marked_debt": last.users_marked_debt,
            "users_restored": last.users_restored,
            "error": bool(last.error),
        },
        "age_seconds": round(age, 1),
        "stale": stale,
    })
    status = DEGRADED if last.error or (stale and beat_expected) else OK
    return {"status": status, **details}


def check_webhooks(now=None) -> dict:
    from webhooks.models import EventStatus, WebhookEvent

    now = now or timezone.now()
    pending = WebhookEvent.objects.filter(status=EventStatus.RECEIVED)
    backlog = pending.count()
    oldest = pending.order_by("received_at").values_list("received_at", flat=True).first()
    oldest_age = round((now - oldest).total_seconds(), 1) if oldest else None
    failed = WebhookEvent.objects.filter(status=EventStatus.FAILED).count()
    stuck = oldest_age is not None and oldest_age > WEBHOOK_BACKLOG_MAX_AGE_S
    return {"status": DEGRADED if stuck else OK, "backlog": backlog, "oldest_age_seconds": oldest_age,
            "failed": failed, "max_age_seconds": WEBHOOK_BACKLOG_MAX_AGE_S}


def business_figures() -> dict:
    """Operator-only figures (API.md §9)."""
    from debt.selectors import overdue_figures
    from plans.models import Plan, PlanStatus
    from refunds.models import Refund, RefundStatus

    figures = overdue_figures()
    pending = Refund.objects.filter(status=RefundStatus.PENDING)
    pending_amount = pending.aggregate(total=Sum("amount"))["total"] or 0
    return {
        "currency": settings.BNPL_CURRENCY,
        "users_in_debt": figures.users_in_debt,
        "overdue_amount": format_minor(figures.overdue_amount),
        "active_plans": Plan.objects.filter(status=PlanStatus.ACTIVE).count(),
        "pending_refunds": pending.count(),
        "pending_refunds_amount": format_minor(pending_amount),
    }


def _start(funcs: dict) -> tuple[float, dict]:
    return time.perf_counter(), {name: _executor.submit(func) for name, func in funcs.items()}


def _finish(started: float, futures: dict, deadline_s: float = DEADLINE_S) -> dict:
    """Results of the pool's checks; one not done by the deadline is reported "down" (Timeout)."""
    results = {}
    for name, future in futures.items():
        remaining = max(deadline_s - (time.perf_counter() - started), 0.0)
        try:
            results[name] = future.result(timeout=remaining)
        except FutureTimeout:
            future.cancel()
            results[name] = {"status": DOWN, "error": "Timeout", "latency_ms": _ms(started)}
        except Exception as exc:  # noqa: BLE001
            results[name] = _failure(exc, started)
    return results


def _db_check(func) -> dict:
    try:
        return func()
    except Exception as exc:  # noqa: BLE001 - a broken check reports, never breaks the page
        logger.warning("health check %s failed: %s", func.__name__, type(exc).__name__)
        return {"status": DOWN, "error": type(exc).__name__}


def health_report(*, with_figures: bool = False) -> tuple[dict, int]:
    """The health document and its HTTP status."""
    # Redis and Celery go to the pool first: they wait on their sockets while the database is read.
    started, futures = _start({"redis": check_redis, "celery": check_celery})
    checks = {"database": check_database()}
    database_up = checks["database"]["status"] == OK
    if database_up:
        checks["overdue_sweep"] = _db_check(check_overdue_sweep)
        checks["webhooks"] = _db_check(check_webhooks)
    else:
        checks["overdue_sweep"] = {"status": DOWN, "error": "DatabaseDown"}
        checks["webhooks"] = {"status": DOWN, "error": "DatabaseDown"}
    checks.update(_finish(started, futures))
    ordered = {name: checks[name] for name in ("database", "redis", "celery", "overdue_sweep", "webhooks")}
    if not database_up:
        overall = DOWN
    elif all(c["status"] in (OK, DISABLED) for c in ordered.values()):
        overall = OK
    else:
        overall = DEGRADED
    body = {"status": overall, "version": VERSION, "time": timezone.now().isoformat(), "checks": ordered}
    if with_figures and database_up:
        body["figures"] = _db_check(business_figures)
    return body, (503 if overall == DOWN else 200)


# --- HTTP -------------------------------------------------------------------------

class HealthNegotiation(BaseContentNegotiation):
    """JSON for ``Accept: application/json`` (preferred over HTML) or ``?format=json``; HTML otherwise."""

    def select_renderer(self, request, renderers, format_suffix=None):
        by_format = {r.format: r for r in renderers}
        wanted = request.query_params.get("format") or format_suffix
        if wanted:
            if wanted not in by_format:
                raise exceptions.NotFound()
            renderer = by_format[wanted]
        else:
            preferred = request._request.get_preferred_type(["text/html", "application/json"])
            renderer = by_format["json" if preferred == "application/json" else "html"]
        return renderer, renderer.media_type


def _may_see_figures(request) -> bool:
    """A valid operator key (optional here) or a staff session. A bad key is ignored, not refused."""
    user = getattr(request._request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    try:
        result = ApiKeyAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed:
        return False
    return result is not None and result[1].role == Role.OPERATOR


_CHECK = openapi.Schema(type=openapi.TYPE_OBJECT, properties={
    "status": openapi.Schema(type=openapi.TYPE_STRING, enum=[OK, DEGRADED, DOWN, DISABLED])},
    additional_properties=True)
_HEALTH_SCHEMA = openapi.Schema(type=openapi.TYPE_OBJECT, properties={
    "status": openapi.Schema(type=openapi.TYPE_STRING, enum=[OK, DEGRADED, DOWN]),
    "version": openapi.Schema(type=openapi.TYPE_STRING),
    "time": openapi.Schema(type=openapi.TYPE_STRING, format=openapi.FORMAT_DATETIME),
    "checks": openapi.Schema(type=openapi.TYPE_OBJECT, properties={
        name: _CHECK for name in ("database", "redis", "celery", "overdue_sweep", "webhooks")}),
    "figures": openapi.Schema(type=openapi.TYPE_OBJECT, description="Operators and staff sessions only.",
                              properties={
                                  "currency": openapi.Schema(type=openapi.TYPE_STRING),
                                  "users_in_debt": openapi.Schema(type=openapi.TYPE_INTEGER),
                                  "overdue_amount": openapi.Schema(type=openapi.TYPE_STRING),
                                  "active_plans": openapi.Schema(type=openapi.TYPE_INTEGER),
                                  "pending_refunds": openapi.Schema(type=openapi.TYPE_INTEGER),
                                  "pending_refunds_amount": openapi.Schema(type=openapi.TYPE_STRING),
                              }),
})
_PROBE_SCHEMA = openapi.Schema(type=openapi.TYPE_OBJECT, properties={
    "status": openapi.Schema(type=openapi.TYPE_STRING, enum=[OK, DOWN]),
    "checks": openapi.Schema(type=openapi.TYPE_OBJECT, additional_properties=_CHECK),
})


class _PublicView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def perform_authentication(self, request):
        # DRF would overwrite the session user (AuthenticationMiddleware) with its own anonymous one.
        pass


class HealthView(_PublicView):
    renderer_classes = [JSONRenderer, TemplateHTMLRenderer]
    content_negotiation_class = HealthNegotiation

    @swagger_auto_schema(
        operation_id="health",
        operation_description=(
            "Service health. No API key needed. JSON for `Accept: application/json` (or `?format=json`), "
            "an HTML dashboard otherwise.\n\n"
            "Checks: `database` (latency), `redis` (latency), `celery` (workers answering a ping, queue "
            "length), `overdue_sweep` (last run, duration, counts; stale after 3 sweep intervals), "
            "`webhooks` (inbox backlog of RECEIVED events and the oldest one's age). A check's status is "
            "`ok`, `degraded`, `down` or `disabled` (embedded mode without Redis: in-process, not a failure).\n\n"
            "Overall `down` with **503** only when the database is down; the 503 body is this same document "
            "(not problem+json) so that monitors can read which check failed. Any other failing check "
            "makes it `degraded` with 200.\n\n"
            "`figures` (users in debt, overdue amount, active plans, pending refunds) is added only for a "
            "valid **operator** key (`Authorization: Bearer`, optional here) or a staff session; any other "
            "or invalid key is ignored, never refused."),
        responses={200: _HEALTH_SCHEMA, 503: _HEALTH_SCHEMA},
        security=[],
        # The dashboard is HTML unless JSON is asked for (drf-yasg lists only the JSON renderer).
        produces=["application/json", "text/html"],
    )
    def get(self, request):
        body, status = health_report(with_figures=_may_see_figures(request))
        return Response(body, status=status, template_name="bnpl/health.html")


class LiveView(_PublicView):
    renderer_classes = [JSONRenderer]

    @swagger_auto_schema(operation_id="health_live", security=[],
                         operation_description="Liveness probe: the process answers. No I/O.",
                         responses={200: _PROBE_SCHEMA})
    def get(self, request):
        return Response({"status": OK})


class ReadyView(_PublicView):
    renderer_classes = [JSONRenderer]

    @swagger_auto_schema(operation_id="health_ready", security=[],
                         operation_description=(
                             "Readiness probe: the database and Redis answer (Redis only when configured). "
                             "503 with the same shape otherwise."),
                         responses={200: _PROBE_SCHEMA, 503: _PROBE_SCHEMA})
    def get(self, request):
        started, futures = _start({"redis": check_redis})
        checks = {"database": check_database()}
        checks.update(_finish(started, futures))
        ok = all(c["status"] in (OK, DISABLED) for c in checks.values())
        return Response({"status": OK if ok else DOWN, "checks": checks}, status=200 if ok else 503)


dashboard = HealthView.as_view()
live = LiveView.as_view()
ready = ReadyView.as_view()
