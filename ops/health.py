"""Health (API.md §9): the dashboard/JSON document, and the liveness and readiness probes.

The checks are a small registry (:data:`CHECKS`): a name, a function returning
``{"status": ..., **details}`` and how it is run. A check's status is ``ok``, ``degraded``,
``down`` or ``disabled`` (the embedded mode, chosen by leaving ``REDIS_URL`` unset: no Redis,
tasks in-process; not a failure). The overall status is ``down`` (HTTP 503, with
``Retry-After``) only when the database is down, ``degraded`` when any other check is not ok.

Safe to expose (v1.1): anonymous callers get each check's ``status`` and nothing else; the
details (latencies, worker names, queue lengths, counts) and the business figures are for
operator keys and staff sessions. Every check but ``database`` is cached in process memory
for up to ``BNPL_HEALTH_CACHE_SECONDS`` (10): the network checks (Redis, Celery) are
refreshed in a small thread pool in the background once half that age has passed, so a
steady flood of requests never waits on a hanging Redis or broker; only a request that
finds no result younger than the limit waits, for at most ``DEADLINE_S``.
"""
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

import bnpl
from bnpl.errors import RETRY_AFTER_S
from bnpl.money import format_minor
from debt.selectors import last_sweep_run, overdue_figures, running_sweep_run
from events.selectors import outbox_stats
from ledger.selectors import last_reconciliation
from plans.selectors import active_plan_count
from refunds.selectors import pending_refund_totals
from webhooks.selectors import inbox_stats

logger = logging.getLogger(__name__)

VERSION = os.environ.get("BNPL_VERSION") or bnpl.__version__

OK, DEGRADED, DOWN, DISABLED = "ok", "degraded", "down", "disabled"

SOCKET_TIMEOUT_S = 0.5       # Redis connect/read
CELERY_PING_TIMEOUT_S = 0.5  # how long workers get to answer the broadcast ping
DEADLINE_S = 1.5             # the longest a request waits for the network checks
DB_STATEMENT_TIMEOUT_MS = 1000
STALE_SWEEP_INTERVALS = 3
WEBHOOK_BACKLOG_MAX_AGE_S = 300  # the re-drive runs every 30 s: older RECEIVED events mean it is stuck
RETRY_AFTER_S = RETRY_AFTER_S    # on a 503 the database is down: the same advice as the API's 503s

# When this process started: a sweep that has not run yet is only a problem after one interval.
_PROCESS_STARTED = time.monotonic()

# Bounded: if Redis hangs, at most this many threads wait on it; later refreshes queue behind them.
_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _failure(exc: BaseException, started: float) -> dict:
    # The exception type only: messages can carry hosts or credentials from URLs.
    return {"status": DOWN, "error": type(exc).__name__, "latency_ms": _ms(started)}


def embedded_mode() -> bool:
    """No ``REDIS_URL``: SQLite or PostgreSQL, tasks in-process, a per-process cache (API.md §10)."""
    return not settings.REDIS_URL


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
    if embedded_mode():
        return {"status": DISABLED, "mode": "embedded",
                "detail": "REDIS_URL is not set: the cache and rate limits are per process."}
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
    if embedded_mode() or not broker or broker.startswith("memory://"):
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
    """The last finished run (``debt.selectors.last_sweep_run``): degraded when it failed or is stale.

    Beat (or the embedded loop of ``make run``) runs one sweep as it starts, so a fresh
    deployment is not degraded for an interval just because nothing has run yet; a sweep that
    has still not run once this process has been up for a whole interval is.
    """
    now = now or timezone.now()
    interval = settings.BNPL_OVERDUE_SWEEP_SECONDS
    last = last_sweep_run()
    running = running_sweep_run()
    details: dict = {"interval_seconds": interval, "stale_after_seconds": interval * STALE_SWEEP_INTERVALS,
                     "running_since": running.started_at.isoformat() if running else None}
    if last is None:
        waited_long = time.monotonic() - _PROCESS_STARTED > interval
        return {"status": DEGRADED if waited_long else OK, "last_run": None,
                "detail": "The overdue sweep has not run yet." + (
                    "" if waited_long else " Beat runs one as it starts."), **details}
    finished_at = last.finished_at
    assert finished_at is not None  # last_sweep_run() returns finished runs only
    age = (now - finished_at).total_seconds()
    stale = age > interval * STALE_SWEEP_INTERVALS
    details.update({
        "last_run": {
            "started_at": last.started_at.isoformat(),
            "finished_at": finished_at.isoformat(),
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
    return {"status": DEGRADED if last.error or stale else OK, **details}


def check_webhooks(now=None) -> dict:
    """The inbox (``webhooks.selectors.inbox_stats``): degraded when an event waits too long."""
    now = now or timezone.now()
    stats = inbox_stats()
    oldest = stats.oldest_received_at
    oldest_age = round((now - oldest).total_seconds(), 1) if oldest else None
    stuck = oldest_age is not None and oldest_age > WEBHOOK_BACKLOG_MAX_AGE_S
    return {"status": DEGRADED if stuck else OK, "backlog": stats.backlog, "oldest_age_seconds": oldest_age,
            "failed": stats.failed, "max_age_seconds": WEBHOOK_BACKLOG_MAX_AGE_S}


# A daily reconciliation older than this is stale (beat runs it once a day).
LEDGER_STALE_S = 36 * 3600
# The pump runs every few seconds: an event undelivered for longer means deliveries are stuck.
OUTBOX_MAX_AGE_S = 300


def check_ledger(now=None) -> dict:
    """The last ``manage.py reconcile`` (``ledger.selectors.last_reconciliation``, API.md §11).

    Degraded on any mismatch, a failed run or a stale one. None yet (a new deployment) is ok: the
    journal has had no day to reconcile, and beat runs it daily.
    """
    now = now or timezone.now()
    run = last_reconciliation()
    if run is None:
        return {"status": OK, "last_run": None}
    finished_at = run.finished_at
    assert finished_at is not None  # last_reconciliation() returns finished runs only
    age = round((now - finished_at).total_seconds(), 1)
    bad = bool(run.mismatch_count or run.error) or age > LEDGER_STALE_S
    return {"status": DEGRADED if bad else OK, "age_seconds": age, "stale": age > LEDGER_STALE_S,
            "last_run": {"finished_at": finished_at.isoformat(), "duration_ms": run.duration_ms,
                         "plans_checked": run.plans_checked, "installments_checked": run.installments_checked,
                         "mismatches": run.mismatch_count, "error": run.error or None}}


def check_outbox(now=None) -> dict:
    """Outbound events (``events.selectors.outbox_stats``, API.md §14): degraded when an event has
    waited for delivery longer than ``OUTBOX_MAX_AGE_S``. A receiver's own failures are its
    endpoint's state (retries, DISABLED), not ours, and are shown but do not degrade."""
    stats = outbox_stats()
    age = stats["oldest_undelivered_age_seconds"]
    stuck = age is not None and age > OUTBOX_MAX_AGE_S
    return {"status": DEGRADED if stuck else OK, **stats, "max_age_seconds": OUTBOX_MAX_AGE_S}


def business_figures() -> dict:
    """Operator-only figures (API.md §9), each from its app's selectors."""
    pending_count, pending_amount = pending_refund_totals()
    debt = overdue_figures()
    return {
        "currency": settings.BNPL_CURRENCY,
        "users_in_debt": debt.users_in_debt,
        "overdue_amount": format_minor(debt.overdue_amount),
        "active_plans": active_plan_count(),
        "pending_refunds": pending_count,
        "pending_refunds_amount": format_minor(pending_amount),
    }


# --- the registry -------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """One entry of the health document.

    ``network``: talks to something other than the database (Redis, the broker), so it runs in
    the pool, bounded by ``DEADLINE_S``, and is refreshed in the background. ``uses_database``:
    reads the database, so it is reported ``down`` without running when the database is down.
    ``cached``: its result may be reused for up to ``BNPL_HEALTH_CACHE_SECONDS``.
    """

    name: str
    run: Callable[[], dict]
    network: bool = False
    uses_database: bool = False
    cached: bool = True


# In the document's order.
CHECKS: tuple[Check, ...] = (
    Check("database", check_database, cached=False),
    Check("redis", check_redis, network=True),
    Check("celery", check_celery, network=True),
    Check("overdue_sweep", check_overdue_sweep, uses_database=True),
    Check("webhooks", check_webhooks, uses_database=True),
    Check("ledger", check_ledger, uses_database=True),
    Check("outbox", check_outbox, uses_database=True),
)


def check_names() -> list[str]:
    return [check.name for check in CHECKS]


class _Slot:
    """The cached result of one check, and the refresh in flight (if any)."""

    def __init__(self):
        self.result: dict | None = None
        self.at = 0.0
        self.refresh: Future | None = None


_cache: dict[tuple, _Slot] = {}
_cache_lock = threading.Lock()


def reset_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _max_age() -> float:
    return float(getattr(settings, "BNPL_HEALTH_CACHE_SECONDS", 10))


def _slot(check: Check) -> _Slot:
    # Keyed by the endpoints too, so a changed configuration (tests override it) is never served stale.
    key = (check.name, settings.REDIS_URL, settings.CELERY_BROKER_URL)
    with _cache_lock:
        return _cache.setdefault(key, _Slot())


def _refresh_in_background(check: Check, slot: _Slot) -> Future:
    """Start one refresh of ``check`` in the pool unless one is already running."""
    def run() -> dict:
        try:
            result = check.run()
        except Exception as exc:  # noqa: BLE001 - a broken check reports, never breaks the page
            result = {"status": DOWN, "error": type(exc).__name__}
        with _cache_lock:
            slot.result, slot.at = result, time.monotonic()
        return result

    with _cache_lock:
        if slot.refresh is None or slot.refresh.done():
            slot.refresh = _executor.submit(run)
        return slot.refresh


def _network_result(check: Check, started: float) -> dict | Future:
    """A result young enough to serve, else the refresh to wait for (``_finish``)."""
    max_age = _max_age()
    slot = _slot(check)
    age = time.monotonic() - slot.at
    if slot.result is not None and age < max_age:
        if age >= max_age / 2:
            _refresh_in_background(check, slot)  # served now, refreshed for the next request
        return slot.result
    return _refresh_in_background(check, slot)


def _finish(started: float, pending: dict[str, Future]) -> dict:
    results = {}
    for name, future in pending.items():
        remaining = max(DEADLINE_S - (time.perf_counter() - started), 0.0)
        try:
            results[name] = future.result(timeout=remaining)
        except FutureTimeout:
            # The refresh keeps running and fills the cache for a later request.
            results[name] = {"status": DOWN, "error": "Timeout", "latency_ms": _ms(started)}
        except Exception as exc:  # noqa: BLE001
            results[name] = _failure(exc, started)
    return results


def _database_result(check: Check) -> dict:
    slot = _slot(check) if check.cached else None
    if slot is not None and slot.result is not None and time.monotonic() - slot.at < _max_age():
        return slot.result
    try:
        result = check.run()
    except Exception as exc:  # noqa: BLE001 - a broken check reports, never breaks the page
        logger.warning("health check %s failed: %s", check.name, type(exc).__name__)
        result = {"status": DOWN, "error": type(exc).__name__}
    if slot is not None and result["status"] != DOWN:
        with _cache_lock:
            slot.result, slot.at = result, time.monotonic()
    return result


def run_checks() -> dict[str, dict]:
    """Every registered check's result, in registry order."""
    started = time.perf_counter()
    # The network checks first: a refresh waits on its socket while the database is read.
    network = {check.name: _network_result(check, started) for check in CHECKS if check.network}
    results: dict[str, dict] = {}
    database_up = True
    for check in CHECKS:
        if check.network:
            continue
        if check.uses_database and not database_up:
            results[check.name] = {"status": DOWN, "error": "DatabaseDown"}
            continue
        results[check.name] = _database_result(check)
        if check.name == "database":
            database_up = results[check.name]["status"] == OK
    results.update({name: r for name, r in network.items() if isinstance(r, dict)})
    results.update(_finish(started, {name: f for name, f in network.items() if isinstance(f, Future)}))
    return {name: results[name] for name in check_names()}


def health_report(*, with_details: bool = False, with_figures: bool = False) -> tuple[dict, int]:
    """The health document and its HTTP status. Without details each check is its status alone."""
    checks = run_checks()
    database_up = checks["database"]["status"] == OK
    if not database_up:
        overall = DOWN
    elif all(c["status"] in (OK, DISABLED) for c in checks.values()):
        overall = OK
    else:
        overall = DEGRADED
    if not with_details:
        checks = {name: {"status": check["status"]} for name, check in checks.items()}
    body = {"status": overall, "version": VERSION, "time": timezone.now().isoformat(), "checks": checks}
    if with_figures and database_up:
        try:
            body["figures"] = business_figures()
        except Exception as exc:  # noqa: BLE001
            logger.warning("health figures failed: %s", type(exc).__name__)
            body["figures"] = {"status": DOWN, "error": type(exc).__name__}
    return body, (503 if overall == DOWN else 200)


def readiness() -> tuple[dict, int]:
    """Ready when the database answers. Redis and the broker only degrade (API.md §9 v1.1)."""
    database = check_database()
    ok = database["status"] == OK
    return {"status": OK if ok else DOWN, "checks": {"database": database}}, (200 if ok else 503)
