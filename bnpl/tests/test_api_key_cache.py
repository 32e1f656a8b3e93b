"""The cached API key: one Redis round trip verifies and counts; revocation is still immediate everywhere."""
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from bnpl import authentication, throttling
from bnpl.models import ApiKey, Role
from bnpl.services import api_key_create, api_key_revoke
from conftest import ApiClient

ROOT = Path(__file__).resolve().parents[2]


def _redis():
    return cache._cache.get_client(write=True)


def _client(raw: str) -> ApiClient:
    client = ApiClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.mark.django_db
def test_a_cached_key_costs_no_query(merchant, django_assert_num_queries):
    api_key, raw = api_key_create(role=Role.CLIENT, name="cached")
    api = _client(raw)
    assert api.get(f"/api/v1/merchants/{merchant.id}/").status_code == 200  # reads the row, caches it
    assert _redis().get(authentication.record_key(api_key.key_hash)) is not None
    with django_assert_num_queries(1):  # the merchant itself, nothing for the key
        r = api.get(f"/api/v1/merchants/{merchant.id}/")
    assert r.status_code == 200
    # The record holds what requests need and nothing secret.
    record = _redis().get(authentication.record_key(api_key.key_hash)).decode()
    assert raw not in record and "webhook" not in record and str(api_key.id) in record


@pytest.mark.django_db
def test_revocation_is_immediate_for_a_cached_key(client_api):
    assert client_api.get("/api/v1/users/").status_code == 200
    assert client_api.get("/api/v1/users/").status_code == 200  # served from the cache
    api_key_revoke(api_key=client_api.api_key)
    assert client_api.get("/api/v1/users/").status_code == 401


@pytest.mark.django_db
def test_a_request_that_read_the_row_before_the_revocation_cannot_cache_the_key_again(client_api):
    stale = ApiKey.objects.get(pk=client_api.api_key.pk)  # read while still valid
    api_key_revoke(api_key=client_api.api_key)
    # The late writer adds with NX, as the authenticator does: the tombstone wins.
    added = _redis().set(authentication.record_key(stale.key_hash), authentication._record(stale), nx=True, ex=60)
    assert not added
    assert client_api.get("/api/v1/users/").status_code == 401


@pytest.mark.django_db
def test_an_expired_record_is_read_again_from_the_row(client_api, django_assert_max_num_queries):
    assert client_api.get("/api/v1/users/").status_code == 200
    _redis().delete(authentication.record_key(client_api.api_key.key_hash))  # expired, or Redis restarted
    assert client_api.get("/api/v1/users/").status_code == 200
    assert _redis().get(authentication.record_key(client_api.api_key.key_hash)) is not None


@pytest.mark.django_db
def test_unknown_keys_are_not_cached(anon_api):
    raw = "bnpl_" + "x" * 43
    for _ in range(2):
        assert anon_api.get("/api/v1/users/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    from bnpl.models import hash_api_key

    assert _redis().get(authentication.record_key(hash_api_key(raw))) is None


@pytest.mark.django_db(transaction=True)
def test_revocation_from_another_process_is_seen_at_once():
    """The key is cached by this process (one worker); ``manage.py revoke_api_key`` runs in another."""
    api_key, raw = api_key_create(role=Role.OPERATOR, name="revoked elsewhere")
    api = _client(raw)
    try:
        assert api.get("/api/v1/users/").status_code == 200
        assert api.get("/api/v1/users/").status_code == 200
        db = settings.DATABASES["default"]
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bnpl.settings.test",
               "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}"}
        subprocess.run([sys.executable, "manage.py", "revoke_api_key", str(api_key.id)], cwd=ROOT, env=env,  # noqa: S603
                       check=True, capture_output=True, timeout=60)
        assert api.get("/api/v1/users/").status_code == 401
    finally:
        _redis().delete(throttling.redis_key(api_key.pk))


@pytest.mark.django_db(transaction=True)
def test_the_limit_is_exact_under_racing_threads(settings):
    """20 threads at once against a limit of 7 over the cached path: exactly 7 get through."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "7/min"}}
    api_key, raw = api_key_create(role=Role.OPERATOR, name="racing")
    try:
        assert _client(raw).get("/api/v1/users/").status_code == 200  # cached; 1 of 7 used
        start, statuses = threading.Barrier(20), []

        def one():
            start.wait()
            try:
                statuses.append(_client(raw).get("/api/v1/users/").status_code)
            finally:
                connection.close()

        threads = [threading.Thread(target=one) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(statuses) == [200] * 6 + [429] * 14
        assert _redis().zcard(throttling.redis_key(api_key.pk)) == 7
    finally:
        _redis().delete(throttling.redis_key(api_key.pk))
