"""``/metrics`` (ops app): the series read from the database at scrape time, the token, multiprocess mode."""
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from bnpl.tests.test_metrics import scrape
from debt.models import SweepRun
from webhooks.models import EventStatus, WebhookEvent


@pytest.mark.django_db
def test_webhook_events_by_state_are_read_at_scrape_time(merchant):
    def gauge(state):
        return scrape()[("bnpl_webhook_events", (("status", state),))]

    assert gauge("RECEIVED") == 0
    for n, state in enumerate([EventStatus.RECEIVED, EventStatus.RECEIVED, EventStatus.FAILED]):
        WebhookEvent.objects.create(merchant=merchant, webhook_id=f"m{n}", event_type="refund.status_changed",
                                    payload={}, status=state)
    assert gauge("RECEIVED") == 2
    assert gauge("FAILED") == 1
    assert gauge("PROCESSED") == 0


@pytest.mark.django_db
def test_last_sweep_run_from_the_database():
    finished = timezone.now() - timedelta(seconds=5)
    SweepRun.objects.create(started_at=finished - timedelta(seconds=2), finished_at=finished, duration_ms=2000,
                            cutoff_date=finished.date(), installments_marked_overdue=3, users_marked_debt=1)
    samples = scrape()
    assert samples[("bnpl_overdue_sweep_last_run_duration_seconds", ())] == 2.0
    assert samples[("bnpl_overdue_sweep_last_run_rows", (("kind", "installments_marked_overdue"),))] == 3
    assert samples[("bnpl_overdue_sweep_last_run_rows", (("kind", "users_marked_debt"),))] == 1
    assert abs(samples[("bnpl_overdue_sweep_last_run_timestamp_seconds", ())] - finished.timestamp()) < 0.01
    assert samples[("bnpl_overdue_sweep_last_run_failed", ())] == 0
    assert samples[("bnpl_metrics_database_up", ())] == 1


@pytest.mark.django_db
def test_a_failed_last_run_is_the_last_run_for_metrics_and_health_alike():
    """One definition of "the last run" (``debt.selectors.last_sweep_run``): a failed run is it, flagged."""
    from ops import health

    finished = timezone.now() - timedelta(seconds=5)
    SweepRun.objects.create(started_at=finished - timedelta(minutes=10), finished_at=finished - timedelta(minutes=9),
                            duration_ms=1000, cutoff_date=finished.date())
    SweepRun.objects.create(started_at=finished - timedelta(seconds=1), finished_at=finished, duration_ms=1000,
                            cutoff_date=finished.date(), error="OperationalError")
    samples = scrape()
    assert abs(samples[("bnpl_overdue_sweep_last_run_timestamp_seconds", ())] - finished.timestamp()) < 0.01
    assert samples[("bnpl_overdue_sweep_last_run_failed", ())] == 1
    check = health.check_overdue_sweep()
    assert check["status"] == "degraded" and check["last_run"]["error"] is True
    assert check["last_run"]["finished_at"] == finished.isoformat()


@pytest.mark.django_db
def test_webhook_backlog_is_one_count_for_metrics_and_health(merchant):
    from ops import health

    for n, state in enumerate([EventStatus.RECEIVED] * 3 + [EventStatus.FAILED]):
        WebhookEvent.objects.create(merchant=merchant, webhook_id=f"b{n}", event_type="refund.status_changed",
                                    payload={}, status=state)
    samples = scrape()
    check = health.check_webhooks()
    assert samples[("bnpl_webhook_events", (("status", "RECEIVED"),))] == check["backlog"] == 3
    assert samples[("bnpl_webhook_events", (("status", "FAILED"),))] == check["failed"] == 1
    assert samples[("bnpl_webhook_oldest_received_timestamp_seconds", ())] > 0


@pytest.mark.django_db
def test_token_protects_metrics_when_set(settings):
    settings.BNPL_METRICS_TOKEN = "s3cret-token"
    r = Client().get("/metrics")
    assert r.status_code == 401 and r["Content-Type"].startswith("application/problem+json")
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    scrape(HTTP_AUTHORIZATION="Bearer s3cret-token")


@pytest.mark.slow
def test_multiprocess_mode_merges_processes(tmp_path):
    """Two processes (like two gunicorn workers) count; a third scrapes the sum from PROMETHEUS_MULTIPROC_DIR."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "bnpl.settings.test"}
    record = ("import django; django.setup(); from bnpl import metrics; "
              "metrics.observe_request(method='GET', route='/mp/', status=200, duration_s=0.01)")
    workers = [subprocess.Popen([sys.executable, "-c", record], env=env, cwd=settings.BASE_DIR)  # noqa: S603
               for _ in range(2)]
    assert [w.wait(timeout=60) for w in workers] == [0, 0]
    scrape_code = ("import django; django.setup(); from prometheus_client import generate_latest; "
                   "from ops import metrics; print(generate_latest(metrics.scrape_registry()).decode())")
    out = subprocess.run([sys.executable, "-c", scrape_code], env=env, cwd=settings.BASE_DIR, check=True,  # noqa: S603
                         timeout=60, capture_output=True, text=True).stdout
    assert 'bnpl_http_requests_total{method="GET",route="/mp/",status="200"} 2.0' in out
    assert list(tmp_path.glob("*.db")), "samples were not written to the multiprocess directory"
