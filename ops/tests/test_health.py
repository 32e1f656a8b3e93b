"""Health page and probes (API.md §9) against the real PostgreSQL and Redis."""
import json
import os
import re
import socket
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from bnpl.testing.db import current_database_url
from bnpl.testing.processes import owned, start_celery_worker
from debt.models import SweepRun
from ops import health
from ops.tests.conftest import NOT_OPERATORS
from plans.models import Installment, InstallmentStatus, Plan
from plans.tests.factories import minor
from users.models import UserStatus
from users.tests.factories import CustomerFactory
from webhooks.models import EventStatus, WebhookEvent

HEALTH = "/api/v1/health/"
JSON = {"HTTP_ACCEPT": "application/json"}
CLOSED_REDIS = "redis://127.0.0.1:6390/0"  # nothing listens there
CHECKS = {"database", "redis", "celery", "overdue_sweep", "webhooks", "ledger", "outbox"}
FIGURES = {"users_in_debt", "overdue_amount", "active_plans", "pending_refunds"}


def _closed_port_is_closed():
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", 6390)) != 0, "the test needs 127.0.0.1:6390 to be closed"


# --- probes ---------------------------------------------------------------------

def test_live_answers_without_any_io(anon_api):
    # No django_db mark: any database access here would fail the test.
    r = anon_api.get("/api/v1/health/live/")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r["X-Request-ID"]


@pytest.mark.django_db
def test_ready_checks_the_database(anon_api):
    r = anon_api.get("/api/v1/health/ready/")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_ready_stays_200_when_redis_and_the_broker_are_unreachable():
    # API.md §9 (v1.1): a Redis or broker outage makes the service degraded, never unready.
    _closed_port_is_closed()
    with override_settings(REDIS_URL=CLOSED_REDIS, CELERY_BROKER_URL=CLOSED_REDIS):
        r = Client().get("/api/v1/health/ready/")
        page = Client().get(HEALTH, **JSON)
    assert r.status_code == 200, r.content
    assert r.json()["checks"]["database"]["status"] == "ok"
    assert "redis" not in r.json()["checks"]
    assert page.status_code == 200 and page.json()["status"] == "degraded"


# --- the document ------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("extra", [JSON, {}], ids=["accept-json", "format-json"])
def test_json_document_shape(operator_api, extra):
    url = HEALTH if extra else HEALTH + "?format=json"
    r = operator_api.get(url, **extra)
    assert r.status_code == 200, r.content
    assert r["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["status"] in {"ok", "degraded"}
    assert body["version"]
    assert set(body["checks"]) == CHECKS
    assert all(isinstance(check["status"], str) for check in body["checks"].values())
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["database"]["latency_ms"] >= 0
    assert body["checks"]["redis"]["status"] == "ok"
    # No worker in unit tests: the broker answers, nobody pongs, so celery is down and the whole degraded.
    assert body["checks"]["celery"]["status"] == "down" and body["checks"]["celery"]["workers"] == 0
    assert body["checks"]["celery"]["queue_length"] >= 0
    assert body["status"] == "degraded"


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["text/html", "text/html,application/xhtml+xml,*/*;q=0.8", None])
def test_html_dashboard_for_browsers_and_by_default(accept):
    # API.md §9: JSON for Accept: application/json or ?format=json, HTML otherwise.
    extra = {"HTTP_ACCEPT": accept} if accept else {}
    r = Client().get(HEALTH, **extra)
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/html")
    assert "ops/health.html" in [t.name for t in r.templates]
    html = r.content.decode()
    assert 'id="overall">degraded<' in html
    for name in CHECKS:
        assert f'id="check-{name}"' in html
    assert 'id="figures"' not in html


@pytest.mark.django_db
def test_unknown_format_is_404(anon_api):
    assert anon_api.get(HEALTH + "?format=xml").status_code == 404


@pytest.mark.django_db
def test_redis_and_broker_unreachable_is_degraded_within_two_seconds(operator_api):
    _closed_port_is_closed()
    with override_settings(REDIS_URL=CLOSED_REDIS, CELERY_BROKER_URL=CLOSED_REDIS):
        started = time.monotonic()
        r = operator_api.get(HEALTH, **JSON)
        elapsed = time.monotonic() - started
    assert elapsed < 2, elapsed
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"]["status"] == "down"
    assert body["checks"]["celery"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_hanging_redis_is_bounded_by_timeouts(operator_api):
    """A Redis that accepts connections but never answers (the worst case) still gives a page in < 2 s."""
    with socket.socket() as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(64)  # the kernel completes handshakes; nobody ever reads or writes
        url = f"redis://127.0.0.1:{black_hole.getsockname()[1]}/0"
        with override_settings(REDIS_URL=url, CELERY_BROKER_URL=url):
            started = time.monotonic()
            r = operator_api.get(HEALTH, **JSON)
            elapsed = time.monotonic() - started
    assert elapsed < 2, elapsed
    body = r.json()
    assert r.status_code == 200 and body["status"] == "degraded"
    assert body["checks"]["redis"]["status"] == "down"
    assert body["checks"]["celery"]["status"] == "down"


@pytest.mark.django_db(transaction=True)
def test_database_down_is_503_with_the_document(monkeypatch):
    # Point this process's connection at a closed port; the shared server is untouched.
    monkeypatch.setitem(connection.settings_dict, "PORT", "5499")
    connection.close()
    try:
        r = Client().get(HEALTH, **JSON)
        ready = Client().get("/api/v1/health/ready/")
        # With the database down no key or session can be verified: the details only in-process.
        detailed, status = health.health_report(with_details=True)
    finally:
        monkeypatch.undo()
        connection.close()
    assert r.status_code == 503 == status
    body = r.json()
    assert body["status"] == "down" == detailed["status"]
    assert body["checks"]["database"] == {"status": "down"}
    assert detailed["checks"]["database"]["status"] == "down"
    assert detailed["checks"]["database"]["error"] == "OperationalError"
    assert body["checks"]["redis"]["status"] == "ok"
    assert ready.status_code == 503 and ready.json()["checks"]["database"]["status"] == "down"
    assert "5499" not in r.content.decode()  # no connection details leak
    # A 503 says when to come back.
    assert r["Retry-After"] == ready["Retry-After"] == str(health.RETRY_AFTER_S)


@pytest.mark.django_db
def test_embedded_mode_reports_disabled_not_failure(operator_api, monkeypatch):
    # The embedded mode is REDIS_URL left unset (API.md §10 v1.1), not a Redis that failed to answer.
    monkeypatch.setattr(health, "_PROCESS_STARTED", time.monotonic())  # a fresh start (the suite runs long)
    with override_settings(REDIS_URL="", CELERY_BROKER_URL="memory://"):
        body = operator_api.get(HEALTH, **JSON).json()
    assert body["checks"]["redis"]["status"] == "disabled"
    assert body["checks"]["celery"]["status"] == "disabled"
    assert body["checks"]["celery"]["mode"] == "in-process"
    # The embedded loop of `make run` runs a sweep as it starts: a fresh process is not degraded for it.
    assert body["checks"]["overdue_sweep"]["status"] == "ok"
    assert body["status"] == "ok"


# --- overdue sweep and webhook inbox -------------------------------------------------

def _sweep_run(*, finished_ago: timedelta, error: str = "", **counts) -> SweepRun:
    finished = timezone.now() - finished_ago
    return SweepRun.objects.create(started_at=finished - timedelta(milliseconds=120), finished_at=finished,
                                   duration_ms=120, cutoff_date=finished.date(), error=error, **counts)


@pytest.mark.django_db
def test_sweep_never_run_is_degraded_once_the_process_has_waited_an_interval(monkeypatch):
    monkeypatch.setattr(health, "_PROCESS_STARTED", time.monotonic() - settings.BNPL_OVERDUE_SWEEP_SECONDS - 1)
    check = health.check_overdue_sweep()
    assert check["status"] == "degraded" and check["last_run"] is None


@pytest.mark.django_db
def test_sweep_not_run_yet_is_ok_on_a_fresh_start(monkeypatch):
    # Beat runs a sweep as it starts; until one interval has passed, "not run yet" is not a failure.
    monkeypatch.setattr(health, "_PROCESS_STARTED", time.monotonic() - 5)
    check = health.check_overdue_sweep()
    assert check["status"] == "ok" and check["last_run"] is None
    assert "has not run yet" in check["detail"]


@pytest.mark.django_db
def test_recent_sweep_is_ok_with_its_counts():
    _sweep_run(finished_ago=timedelta(minutes=20))  # older run: not the one reported
    _sweep_run(finished_ago=timedelta(seconds=30), installments_marked_overdue=4, users_marked_debt=2,
               users_restored=1)
    SweepRun.objects.create(started_at=timezone.now(), finished_at=timezone.now(), cutoff_date=timezone.now().date(),
                            skipped=True)  # a skipped run does not count as the last run
    check = health.check_overdue_sweep()
    assert check["status"] == "ok", check
    assert check["stale"] is False
    assert check["last_run"]["duration_ms"] == 120
    assert check["last_run"]["installments_marked_overdue"] == 4
    assert check["last_run"]["users_marked_debt"] == 2
    assert check["last_run"]["users_restored"] == 1
    assert 25 < check["age_seconds"] < 120


@pytest.mark.django_db
def test_sweep_older_than_three_intervals_is_stale():
    interval = settings.BNPL_OVERDUE_SWEEP_SECONDS
    _sweep_run(finished_ago=timedelta(seconds=interval * 3 - 30))
    assert health.check_overdue_sweep()["status"] == "ok"
    SweepRun.objects.all().delete()
    _sweep_run(finished_ago=timedelta(seconds=interval * 3 + 30))
    check = health.check_overdue_sweep()
    assert check["status"] == "degraded" and check["stale"] is True


@pytest.mark.django_db
def test_failed_sweep_is_degraded():
    _sweep_run(finished_ago=timedelta(seconds=10), error="OperationalError")
    check = health.check_overdue_sweep()
    assert check["status"] == "degraded" and check["last_run"]["error"] is True


@pytest.mark.django_db
def test_webhook_backlog_and_oldest_age(merchant):
    def event(n, status, age):
        e = WebhookEvent.objects.create(merchant=merchant, webhook_id=f"msg_{n}", event_type="refund.status_changed",
                                        payload={}, status=status)
        WebhookEvent.objects.filter(pk=e.pk).update(received_at=timezone.now() - age)

    event(1, EventStatus.RECEIVED, timedelta(seconds=20))
    event(2, EventStatus.PROCESSED, timedelta(hours=2))
    check = health.check_webhooks()
    assert check["status"] == "ok" and check["backlog"] == 1
    assert 15 < check["oldest_age_seconds"] < 60

    event(3, EventStatus.RECEIVED, timedelta(minutes=10))
    event(4, EventStatus.FAILED, timedelta(minutes=10))
    check = health.check_webhooks()
    assert check["status"] == "degraded", check
    assert check["backlog"] == 2 and check["failed"] == 1
    assert check["oldest_age_seconds"] >= 600


def _reconciliation(*, finished_ago: timedelta, mismatches: int = 0, error: str = ""):
    from ledger.models import ReconciliationRun

    finished = timezone.now() - finished_ago
    return ReconciliationRun.objects.create(started_at=finished - timedelta(seconds=3), finished_at=finished,
                                            duration_ms=3000, mismatch_count=mismatches, error=error)


@pytest.mark.django_db
def test_ledger_check_follows_the_last_reconciliation():
    assert health.check_ledger() == {"status": "ok", "last_run": None}  # a new deployment
    _reconciliation(finished_ago=timedelta(hours=2))
    check = health.check_ledger()
    assert check["status"] == "ok" and check["last_run"]["mismatches"] == 0 and not check["stale"]
    _reconciliation(finished_ago=timedelta(hours=1), mismatches=3)
    check = health.check_ledger()
    assert check["status"] == "degraded" and check["last_run"]["mismatches"] == 3


@pytest.mark.django_db
def test_ledger_check_is_degraded_when_the_daily_run_is_stale():
    _reconciliation(finished_ago=timedelta(hours=40))
    check = health.check_ledger()
    assert check["status"] == "degraded" and check["stale"] is True


@pytest.mark.django_db
def test_outbox_check_is_degraded_when_an_event_waits_too_long(merchant):
    from events.models import Event

    assert health.check_outbox()["status"] == "ok"
    plan = Plan.objects.create(user=CustomerFactory(), merchant=merchant, total_amount=30000, installment_count=3,
                               start_date=timezone.localdate())
    from events.services import event_record

    event_record(type="plan.created", obj=plan, merchant_id=merchant.pk)
    check = health.check_outbox()
    assert check["status"] == "ok" and check["undispatched_events"] == 1
    Event.objects.update(created_at=timezone.now() - timedelta(minutes=10))
    check = health.check_outbox()
    assert check["status"] == "degraded" and check["oldest_undelivered_age_seconds"] >= 600


# --- business figures ----------------------------------------------------------------

@pytest.fixture
def debt_data(merchant):
    user = CustomerFactory(status=UserStatus.DEBT_USER)
    CustomerFactory()
    plan = Plan.objects.create(user=user, merchant=merchant, total_amount=minor("300.00"), installment_count=3,
                               start_date=timezone.now().date() - timedelta(days=70))
    statuses = (InstallmentStatus.OVERDUE, InstallmentStatus.OVERDUE, InstallmentStatus.UPCOMING)
    for seq, status in enumerate(statuses, start=1):
        Installment.objects.create(plan=plan, user=user, sequence=seq, amount=minor("100.00"), status=status,
                                   paid_amount=minor("25.50") if seq == 1 else minor("0.00"),
                                   due_date=plan.start_date + timedelta(days=30 * seq))
    return user


@pytest.mark.django_db
def test_figures_for_operator_key(operator_api, debt_data):
    body = operator_api.get(HEALTH, **JSON).json()
    figures = body["figures"]
    assert FIGURES <= set(figures)
    assert figures["users_in_debt"] == 1
    assert figures["overdue_amount"] == "174.50"
    assert figures["active_plans"] == 1
    assert figures["pending_refunds"] == 0
    assert figures["currency"] == settings.BNPL_CURRENCY


@pytest.mark.django_db
def test_figures_in_the_html_dashboard_for_operator(operator_api, debt_data):
    r = operator_api.get(HEALTH, HTTP_ACCEPT="text/html")
    assert r["Content-Type"].startswith("text/html")
    assert 'id="figures"' in r.content.decode() and "174.50" in r.content.decode()


@pytest.mark.django_db
def test_figures_for_staff_session(debt_data):
    staff = get_user_model().objects.create_user("ops", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(HEALTH, **JSON).json()["figures"]["users_in_debt"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("who", NOT_OPERATORS)
def test_no_figures_for_anyone_else(who, caller, debt_data):
    client = caller(who)
    r = client.get(HEALTH, **JSON)
    assert r.status_code == 200  # health never refuses, even a bad key
    assert "figures" not in r.json()
    assert "users_in_debt" not in r.content.decode()


# --- a real Celery worker --------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.django_db
def test_celery_ok_with_a_real_worker(tmp_path):
    """Starts ``celery -A bnpl worker`` on this test's Redis database and sees it answer the ping."""
    with owned(start_celery_worker(broker_url=settings.REDIS_URL,
                                   database_url=current_database_url(application_name="health-worker"),
                                   node_name=f"health-test-{os.getpid()}@%h")):
        deadline, check = time.monotonic() + 30, {}
        while time.monotonic() < deadline:
            check = health.check_celery()
            if check["status"] == "ok":
                break
            time.sleep(0.3)
        assert check["status"] == "ok", check
        assert check["workers"] >= 1
        assert any(name.startswith(f"health-test-{os.getpid()}@") for name in check["worker_names"])
        health.reset_cache()
        body = json.loads(Client().get(HEALTH, **JSON).content)
        assert body["checks"]["celery"]["status"] == "ok"


@pytest.mark.django_db
def test_dashboard_reads_as_rows_of_json_values_and_local_times(operator_api):
    """No Python reprs (``False``, ``None``, ``['celery@vm']``); nested objects as rows; times local + ago."""
    _sweep_run(finished_ago=timedelta(seconds=30), installments_marked_overdue=4)
    html = operator_api.get(HEALTH, HTTP_ACCEPT="text/html").content.decode()
    body = html.split("<body>", 1)[1]
    for python_repr in ("False", "True", "None", "['", "{'"):
        assert python_repr not in body, python_repr
    assert "<dt>error</dt><dd>false</dd>" in body  # the last run's error flag, as JSON says it
    assert "<dt>worker names</dt><dd>none</dd>" in body  # an empty list
    assert '<div class="group">last run</div>' in body and '<dl class="nested">' in body
    assert "<dt>installments marked overdue</dt><dd>4</dd>" in body
    # 30 s ago, in BNPL_TIME_ZONE: "YYYY-MM-DD HH:MM:SS (30 s ago)".
    assert re.search(r"<dt>finished at</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(3\d s ago\)</dd>", body), body
    assert 'class="overall degraded"' in body and '<h1 id="overall">degraded</h1>' in body


@pytest.mark.django_db(transaction=True)
def test_an_api_503_for_a_database_outage_carries_retry_after(monkeypatch, client_api):
    monkeypatch.setitem(connection.settings_dict, "PORT", "5499")
    connection.close()
    try:
        r = client_api.get("/api/v1/plans/")
    finally:
        monkeypatch.undo()
        connection.close()
    assert r.status_code == 503 and r["Content-Type"] == "application/problem+json"
    assert r.json()["code"] == "service_unavailable"
    assert r["Retry-After"] == str(health.RETRY_AFTER_S)
