"""Redis semantics (API.md §9-§10 v1.1): the mode is configuration, an outage fails open and only degrades.

Settings are read once per process, so what depends on the environment at start runs in a
subprocess. Redis outages use a closed port or a private redis-server, never the shared one.
"""
import os
import socket
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
from prometheus_client import REGISTRY

from bnpl import redis_policy
from bnpl.testing.processes import free_port, redis_server
from ops import health
from webhooks import tasks as webhook_tasks

JSON = {"HTTP_ACCEPT": "application/json"}


def _closed_redis_url() -> str:
    port = free_port()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return f"redis://127.0.0.1:{port}/0"


def _settings_in_a_new_process(env: dict[str, str | None], expr: str,
                               module: str = "bnpl.settings.local") -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BNPL_", "REDIS_URL"))}
    full["DJANGO_SETTINGS_MODULE"] = module
    full.update({k: v for k, v in env.items() if v is not None})
    code = f"import django; django.setup(); from django.conf import settings; print(repr(({expr})))"
    return subprocess.run([sys.executable, "-c", code], env=full, cwd=settings.BASE_DIR,  # noqa: S603
                          capture_output=True, text=True, timeout=60)


def _fail_open(component: str) -> float:
    return REGISTRY.get_sample_value("bnpl_redis_fail_open_total", {"component": component}) or 0.0


# --- the mode is configuration -----------------------------------------------------------

def test_redis_down_at_start_does_not_switch_to_the_embedded_mode():
    """A process started during a Redis blip keeps Redis as its cache and broker (no in-process tasks)."""
    url = _closed_redis_url()
    result = _settings_in_a_new_process(
        {"REDIS_URL": url},
        "settings.EMBEDDED_MODE, settings.CELERY_TASK_ALWAYS_EAGER, settings.CELERY_BROKER_URL, "
        "settings.CACHES['default']['BACKEND']")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr((False, False, url, "django.core.cache.backends.redis.RedisCache"))


def test_no_redis_url_is_the_embedded_mode():
    result = _settings_in_a_new_process(
        {"REDIS_URL": None}, "settings.EMBEDDED_MODE, settings.CELERY_TASK_ALWAYS_EAGER, "
                             "settings.CACHES['default']['BACKEND']")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr((True, True, "django.core.cache.backends.locmem.LocMemCache"))


def test_production_requires_redis_url():
    secrets = {"DJANGO_SECRET_KEY": "x" * 60, "BNPL_FIELD_ENCRYPTION_KEYS": settings.BNPL_FIELD_ENCRYPTION_KEYS[0],
               "BNPL_LOOKUP_HASH_KEY": "k"}
    refused = _settings_in_a_new_process({**secrets, "REDIS_URL": None}, "1,", module="bnpl.settings.production")
    assert refused.returncode != 0
    assert "REDIS_URL must be set in production" in refused.stderr
    started = _settings_in_a_new_process({**secrets, "REDIS_URL": _closed_redis_url()}, "settings.REDIS_URL",
                                         module="bnpl.settings.production")
    assert started.returncode == 0, started.stderr  # set but down: starts (degraded), never refused


# --- an outage degrades, fails open, and is counted ---------------------------------------------

@pytest.mark.django_db
def test_rate_limit_fails_open_and_is_counted_while_redis_is_down(make_api):
    api = make_api("client")
    url = _closed_redis_url()
    before = _fail_open("rate_limit")
    caches = {"default": {**settings.CACHES["default"], "LOCATION": url}}
    with override_settings(CACHES=caches):
        from django.core.cache import caches as cache_handler

        cache_handler._settings = None  # rebuilt from the overridden setting
        try:
            statuses = [api.get("/api/v1/users/").status_code for _ in range(3)]
        finally:
            cache_handler._settings = None
    assert statuses == [200, 200, 200]
    # The first request found Redis down, the next two skipped it during the cool-down: all counted.
    assert _fail_open("rate_limit") == before + 3


@pytest.mark.django_db
def test_task_publishing_fails_open_and_is_counted_while_the_broker_is_down(merchant):
    from bnpl.testing.processes import celery_broker

    before = _fail_open("task_publish")
    with celery_broker(_closed_redis_url()):
        assert webhook_tasks.enqueue_event_processing("00000000-0000-0000-0000-000000000001") is False
        assert webhook_tasks.enqueue_event_processing("00000000-0000-0000-0000-000000000002") is False
    assert _fail_open("task_publish") == before + 2


def test_the_breaker_closes_again_after_its_cool_down(monkeypatch):
    breaker = redis_policy.Breaker("rate_limit")
    now = [1000.0]
    monkeypatch.setattr(redis_policy.time, "monotonic", lambda: now[0])
    breaker.failed("redis://x")
    assert not breaker.allows("redis://x") and breaker.allows("redis://other")
    now[0] += redis_policy.COOLDOWN_S
    assert breaker.allows("redis://x")  # tried again: recovery needs no restart
    breaker.succeeded("redis://x")
    assert breaker.allows("redis://x")


@pytest.mark.slow
@pytest.mark.django_db
def test_redis_stopped_and_restarted_degrades_then_recovers_in_process(operator_api):
    """Redis down later: /ready stays 200, the page says degraded; it returns to ok with no restart."""
    with redis_server() as server, override_settings(REDIS_URL=server.url, CELERY_BROKER_URL=server.url):
        assert operator_api.get(HEALTH_JSON).json()["checks"]["redis"]["status"] == "ok"
        server.kill()
        health.reset_cache()
        page = operator_api.get(HEALTH_JSON)
        ready = Client().get("/api/v1/health/ready/")
        assert ready.status_code == 200
        assert page.status_code == 200 and page.json()["status"] == "degraded"
        assert page.json()["checks"]["redis"]["status"] == "down"
        server.start()
        health.reset_cache()
        assert operator_api.get(HEALTH_JSON).json()["checks"]["redis"]["status"] == "ok"


HEALTH_JSON = "/api/v1/health/?format=json"
