"""``/metrics``: Prometheus text format, counters that move, DB-backed gauges, multiprocess mode."""
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bnpl import metrics
from debt.models import SweepRun
from webhooks.models import EventStatus, WebhookEvent

VALID_USER = {"full_name": "Metric Person", "phone_number": "+998901230001", "passport_number": "MP1234567",
              "date_of_birth": "1990-05-17"}


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client=None, **extra) -> dict[tuple[str, tuple], float]:
    r = (client or Client()).get("/metrics", **extra)
    assert r.status_code == 200, r.content
    assert r["Content-Type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(r.content.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.mark.parametrize(("route", "label"), [
    ("api/v1/users/$", "/api/v1/users/"),
    ("api/v1/users/(?P<pk>[^/.]+)/$", "/api/v1/users/<pk>/"),
    ("api/v1/refunds/(?P<pk>[^/.]+)/approve/$", "/api/v1/refunds/<pk>/approve/"),
    ("api/v1/health/live/", "/api/v1/health/live/"),
    ("^swagger\\.json$", "/swagger.json"),
    ("api/v1/debt/<uuid:user_id>/", "/api/v1/debt/<uuid:user_id>/"),
    ("x/(?P<a>(b|c)+)/(?P<d>\\d+)/$", "/x/<a>/<d>/"),
])
def test_route_label_is_the_pattern_not_the_path(route, label):
    assert metrics._regex_to_route(route) == label.lstrip("/")


@pytest.mark.django_db
def test_request_counters_move_by_route_pattern_and_status(client_api):
    ok = {"method": "POST", "route": "/api/v1/users/", "status": "201"}
    detail = {"method": "GET", "route": "/api/v1/users/<pk>/", "status": "200"}
    missing = {"method": "GET", "route": "/api/v1/users/<pk>/", "status": "404"}
    before = {k: sample("bnpl_http_requests_total", **v) for k, v in
              {"ok": ok, "detail": detail, "missing": missing}.items()}
    latency_before = sample("bnpl_http_request_duration_seconds_count", **detail)

    user_id = client_api.post("/api/v1/users/", VALID_USER).json()["id"]
    client_api.get(f"/api/v1/users/{user_id}/")
    client_api.get(f"/api/v1/users/{user_id}/")
    client_api.get("/api/v1/users/00000000-0000-0000-0000-000000000000/")

    assert sample("bnpl_http_requests_total", **ok) == before["ok"] + 1
    assert sample("bnpl_http_requests_total", **detail) == before["detail"] + 2
    assert sample("bnpl_http_requests_total", **missing) == before["missing"] + 1
    assert sample("bnpl_http_request_duration_seconds_count", **detail) == latency_before + 2
    # The raw path (with the id) is never a label.
    text = Client().get("/metrics").content.decode()
    assert user_id not in text
    assert 'route="/api/v1/users/<pk>/"' in text


@pytest.mark.django_db
def test_metrics_page_shows_what_requests_did(client_api):
    client_api.get("/api/v1/users/")
    before = scrape()[("bnpl_http_requests_total",
                      (("method", "GET"), ("route", "/api/v1/users/"), ("status", "200")))]
    client_api.get("/api/v1/users/")
    after = scrape()[("bnpl_http_requests_total",
                     (("method", "GET"), ("route", "/api/v1/users/"), ("status", "200")))]
    assert after == before + 1


@pytest.mark.django_db
def test_unmatched_paths_share_one_label(anon_api):
    before = sample("bnpl_http_requests_total", method="GET", route="unmatched", status="404")
    anon_api.get("/no/such/page/1")
    anon_api.get("/no/such/page/2")
    assert sample("bnpl_http_requests_total", method="GET", route="unmatched", status="404") == before + 2


@pytest.mark.django_db
def test_idempotent_replays_are_counted(client_api):
    before = sample("bnpl_idempotent_replays_total")
    body = {**VALID_USER, "passport_number": "MP7654321", "phone_number": "+998901230002"}
    client_api.post("/api/v1/users/", body, HTTP_IDEMPOTENCY_KEY="metrics-replay")
    assert sample("bnpl_idempotent_replays_total") == before
    r = client_api.post("/api/v1/users/", body, HTTP_IDEMPOTENCY_KEY="metrics-replay")
    assert r["Idempotent-Replayed"] == "true"
    assert sample("bnpl_idempotent_replays_total") == before + 1


def test_observe_sweep_records_duration_and_counts():
    count = sample("bnpl_overdue_sweep_duration_seconds_count")
    marked = sample("bnpl_overdue_sweep_rows_total", kind="installments_marked_overdue")
    restored = sample("bnpl_overdue_sweep_rows_total", kind="users_restored")
    metrics.observe_sweep(0.42, {"installments_marked_overdue": 7, "users_marked_debt": 0, "users_restored": 2},
                          finished_at=1_800_000_000.0)
    assert sample("bnpl_overdue_sweep_duration_seconds_count") == count + 1
    assert sample("bnpl_overdue_sweep_rows_total", kind="installments_marked_overdue") == marked + 7
    assert sample("bnpl_overdue_sweep_rows_total", kind="users_restored") == restored + 2
    assert sample("bnpl_overdue_sweep_last_success_timestamp_seconds") == 1_800_000_000.0


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
    assert samples[("bnpl_metrics_database_up", ())] == 1


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
                   "from bnpl import metrics; print(generate_latest(metrics.scrape_registry()).decode())")
    out = subprocess.run([sys.executable, "-c", scrape_code], env=env, cwd=settings.BASE_DIR, check=True,  # noqa: S603
                         timeout=60, capture_output=True, text=True).stdout
    assert 'bnpl_http_requests_total{method="GET",route="/mp/",status="200"} 2.0' in out
    assert list(tmp_path.glob("*.db")), "samples were not written to the multiprocess directory"
