"""Per-API-key rate limit in the real Redis: 429 ``throttled`` problem+json with ``Retry-After``."""
import time

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from bnpl.throttling import redis_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit_3_per_minute(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "3/min"}}
    used = []
    yield used
    for pk in used:
        _redis().delete(redis_key(pk))


def _redis():
    return cache._cache.get_client(write=True)


def _key(api) -> str:
    return redis_key(api.api_key.pk)


def test_cache_is_the_real_redis():
    assert isinstance(caches["default"], RedisCache)


def test_429_after_the_limit_with_retry_after(make_api, limit_3_per_minute):
    api = make_api("client")
    limit_3_per_minute.append(api.api_key.pk)
    statuses = [api.get("/api/v1/users/").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    # The window lives in Redis under this key's id: one entry per allowed request.
    assert _redis().zcard(_key(api)) == 3

    r = api.get("/api/v1/users/")  # ApiClient also checks the problem+json shape
    assert r.status_code == 429
    body = r.json()
    assert body["code"] == "throttled" and body["status"] == 429
    retry_after = int(r["Retry-After"])
    assert 1 <= retry_after <= 60
    # A write is refused too, and the refusal is not stored as an idempotent response.
    r = api.post("/api/v1/users/", {"full_name": "x"}, HTTP_IDEMPOTENCY_KEY="throttled-1")
    assert r.status_code == 429


def test_limit_is_per_api_key(make_api, limit_3_per_minute):
    first, second = make_api("client"), make_api("operator")
    limit_3_per_minute.extend([first.api_key.pk, second.api_key.pk])
    for _ in range(3):
        first.get("/api/v1/users/")
    assert first.get("/api/v1/users/").status_code == 429
    assert second.get("/api/v1/users/").status_code == 200


def test_window_slides(make_api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "2/s"}}
    api = make_api("client")
    try:
        assert [api.get("/api/v1/users/").status_code for _ in range(3)] == [200, 200, 429]
        time.sleep(1.05)
        assert api.get("/api/v1/users/").status_code == 200
    finally:
        _redis().delete(_key(api))


def test_shared_across_processes_through_redis(make_api, limit_3_per_minute):
    """Another worker (simulated by writing the same Redis key) counts against the same limit."""
    api = make_api("client")
    limit_3_per_minute.append(api.api_key.pk)
    now = time.time()
    _redis().zadd(_key(api), {"worker-2:a": now, "worker-2:b": now, "worker-2:c": now})
    assert api.get("/api/v1/users/").status_code == 429


def test_health_and_anonymous_are_not_counted(anon_api, limit_3_per_minute):
    for _ in range(5):
        assert anon_api.get("/api/v1/health/live/").status_code == 200
    assert anon_api.get("/api/v1/users/").status_code == 401


def test_cache_outage_fails_open(make_api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "1/min"}}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:6390/0",
                                   "OPTIONS": {"socket_connect_timeout": 0.3, "socket_timeout": 0.3}}}
    api = make_api("client")
    started = time.monotonic()
    assert [api.get("/api/v1/users/").status_code for _ in range(2)] == [200, 200]
    assert time.monotonic() - started < 3


def test_refused_requests_do_not_use_up_the_window(make_api, limit_3_per_minute):
    api = make_api("client")
    limit_3_per_minute.append(api.api_key.pk)
    for _ in range(3):
        api.get("/api/v1/users/")
    for _ in range(5):
        assert api.get("/api/v1/users/").status_code == 429
    assert _redis().zcard(_key(api)) == 3


def test_retry_after_counts_from_the_oldest_request_in_the_window(make_api, limit_3_per_minute):
    api = make_api("client")
    limit_3_per_minute.append(api.api_key.pk)
    now = time.time()
    _redis().zadd(_key(api), {"a": now - 50, "b": now - 10, "c": now - 5})
    r = api.get("/api/v1/users/")
    assert r.status_code == 429
    assert 9 <= int(r["Retry-After"]) <= 11  # the entry from 50 s ago leaves the 60 s window in ~10 s


def test_embedded_mode_without_redis_still_limits(make_api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "2/min"}}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "throttle-embedded-test"}}
    api = make_api("client")
    assert [api.get("/api/v1/users/").status_code for _ in range(3)] == [200, 200, 429]
