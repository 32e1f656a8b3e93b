"""The health page is safe to expose (API.md §9 v1.1, issue 15 item 6).

Anonymous callers see each check's status and nothing else; slow checks are cached so a
flood of anonymous requests stays fast even while Redis or the broker hangs; the checks are
a registry, so adding one (``ledger``, ``outbox``) is one entry.
"""
import json
import socket
import statistics
import time
import urllib.request

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import override_settings

from bnpl.testing.db import current_database_url
from bnpl.testing.processes import gunicorn_server, redis_server
from ops import health
from ops.tests.conftest import NOT_OPERATORS

HEALTH = "/api/v1/health/"
JSON = {"HTTP_ACCEPT": "application/json"}
DETAIL_WORDS = ("latency", "worker", "queue", "backlog", "vendor", "last_run", "interval", "oldest", "failed",
                "127.0.0.1", "celery@")


@pytest.mark.django_db
@pytest.mark.parametrize("who", NOT_OPERATORS)
def test_anyone_but_operators_and_staff_sees_statuses_only(who, caller):
    client = caller(who)
    r = client.get(HEALTH, **JSON)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"status", "version", "time", "checks"}
    assert set(body["checks"]) == set(health.check_names())
    assert all(check == {"status": check["status"]} for check in body["checks"].values()), body
    html = client.get(HEALTH, HTTP_ACCEPT="text/html").content.decode()
    for text in (r.content.decode(), html.split("<footer>")[0]):
        for word in DETAIL_WORDS:
            assert word not in text.lower(), (word, who)


@pytest.mark.django_db
def test_operators_and_staff_see_the_details(operator_api):
    staff = Client()
    staff.force_login(get_user_model().objects.create_user("ops", password="pw", is_staff=True))
    for client in (operator_api, staff):
        checks = client.get(HEALTH, **JSON).json()["checks"]
        assert "latency_ms" in checks["database"] and "queue_length" in checks["celery"]
        assert "backlog" in checks["webhooks"] and "interval_seconds" in checks["overdue_sweep"]


@pytest.mark.django_db
def test_a_new_check_is_one_registry_entry(monkeypatch, operator_api):
    example = health.Check("example", lambda: {"status": "ok", "last_run": None}, uses_database=True)
    monkeypatch.setattr(health, "CHECKS", (*health.CHECKS, example))
    anonymous = Client().get(HEALTH, **JSON).json()
    assert anonymous["checks"]["example"] == {"status": "ok"}
    assert operator_api.get(HEALTH, **JSON).json()["checks"]["example"] == {"status": "ok", "last_run": None}
    assert 'id="check-example"' in Client().get(HEALTH).content.decode()


@pytest.mark.django_db
def test_a_failing_new_check_degrades_and_a_check_that_raises_is_down(monkeypatch):
    broken = health.Check("broken", lambda: 1 / 0, uses_database=True)
    monkeypatch.setattr(health, "CHECKS", (*health.CHECKS, broken))
    body = Client().get(HEALTH, **JSON).json()
    assert body["checks"]["broken"] == {"status": "down"} and body["status"] == "degraded"


@pytest.mark.django_db
def test_slow_checks_are_cached_and_refreshed_in_the_background(settings):
    """A hanging Redis costs at most one bounded wait; later requests are served from the cache."""
    settings.BNPL_HEALTH_CACHE_SECONDS = 10
    with socket.socket() as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(64)  # accepts, never answers
        url = f"redis://127.0.0.1:{black_hole.getsockname()[1]}/0"
        with override_settings(REDIS_URL=url, CELERY_BROKER_URL=url):
            client = Client()
            started = time.perf_counter()
            first = client.get(HEALTH, **JSON).json()
            first_s = time.perf_counter() - started
            timings = []
            for _ in range(40):
                started = time.perf_counter()
                body = client.get(HEALTH, **JSON).json()
                timings.append(time.perf_counter() - started)
    assert first_s < 2, first_s
    assert first["checks"]["redis"]["status"] == body["checks"]["redis"]["status"] == "down"
    assert body["status"] == "degraded"
    assert statistics.median(timings) < 0.05, timings


@pytest.mark.django_db
def test_cached_results_are_not_older_than_the_limit(settings, monkeypatch):
    settings.BNPL_HEALTH_CACHE_SECONDS = 10
    calls = []
    check = health.Check("probe", lambda: calls.append(1) or {"status": "ok"}, uses_database=True)
    monkeypatch.setattr(health, "CHECKS", (*health.CHECKS, check))
    now = [1000.0]
    monkeypatch.setattr(health.time, "monotonic", lambda: now[0])
    health.run_checks()
    health.run_checks()
    assert len(calls) == 1
    now[0] += 9.9
    health.run_checks()
    assert len(calls) == 1
    now[0] += 0.2  # older than 10 s: never served again
    health.run_checks()
    assert len(calls) == 2


# --- measured on a real server ----------------------------------------------------------------

def _get(url: str) -> tuple[int, dict, float]:
    started = time.perf_counter()
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        body = json.loads(response.read())
        return response.status, body, time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("outage", ["stopped", "hanging"])
def test_anonymous_health_stays_fast_on_gunicorn_while_redis_is_out(outage):
    """200 anonymous requests to a real gunicorn whose Redis was stopped (or hangs): the median is small.

    API.md asks for under 50 ms at the median; this test asserts a looser bound for a loaded CI
    machine and prints the measured figure (bench/RESULTS.md records it).
    """
    database_url = current_database_url(application_name="health-exposure")
    with redis_server() as server, socket.socket() as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(256)
        redis_url = server.url if outage == "stopped" else f"redis://127.0.0.1:{black_hole.getsockname()[1]}/0"
        with gunicorn_server(database_url=database_url, redis_url=redis_url, WEB_CONCURRENCY="2",
                             GUNICORN_THREADS="2") as base_url:
            server.kill()
            url = f"{base_url}{HEALTH}"
            for _ in range(10):  # warm both workers' connections and caches
                _get(url)
            timings, statuses = [], set()
            for _ in range(200):
                status, body, seconds = _get(url)
                timings.append(seconds)
                statuses.add((status, body["status"], body["checks"]["redis"]["status"]))
                assert set(body["checks"]["redis"]) == {"status"}
    median_ms = statistics.median(timings) * 1000
    print(f"anonymous health, redis {outage}: median {median_ms:.1f} ms, "
          f"p90 {statistics.quantiles(timings, n=10)[-1] * 1000:.1f} ms over 200 requests")
    assert statuses == {(200, "degraded", "down")}
    assert median_ms < 150, median_ms
