"""Fault tests (issue 6): the web server's PostgreSQL connection is dropped.

A real gunicorn with the deployment's config and the production settings (persistent
connections, ``CONN_HEALTH_CHECKS``) serves the test database; the test terminates exactly
that server's backends with ``pg_terminate_backend``. To drop a connection in the middle of
a request, for certain, the test first makes the request wait on a lock it holds.
"""
import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from bnpl.crypto import lookup_hash
from bnpl.models import ApiKey, IdempotencyRecord, Role
from bnpl.services import api_key_create
from bnpl.testing.db import current_database_url, database_backends, held_transaction, terminate_backends
from bnpl.testing.processes import gunicorn_server, wait_until
from users.models import Customer
from users.tests.factories import CustomerFactory, user_payload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WEB_DB_NAME = "faults-web"
USERS = "/api/v1/users/"
# Whatever the driver said must not reach the client.
LEAKS = ("Traceback", "terminat", "psycopg", "OperationalError", "INSERT", "SELECT", "users_customer",
         "bnpl_idempotencyrecord")


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker):
    """One gunicorn worker, one thread: every request of a test uses the same persistent connection."""
    with django_db_blocker.unblock():
        database_url = current_database_url(application_name=WEB_DB_NAME)
    with gunicorn_server(database_url=database_url, redis_url=settings.REDIS_URL, WEB_CONCURRENCY="1",
                         GUNICORN_THREADS="1", DB_CONN_MAX_AGE="60") as base_url:
        yield base_url


class Reply:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> dict:
        return json.loads(self.body)


def _call(method: str, url: str, *, key: str, body: dict | None = None, idempotency_key: str | None = None) -> Reply:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - loopback
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers, error.read())


def _client_key() -> tuple[ApiKey, str]:
    return api_key_create(role=Role.CLIENT, name="faults")


def test_an_idle_connection_dropped_between_requests_is_replaced_unseen(web):
    _, key = _client_key()
    assert _call("GET", f"{web}{USERS}", key=key).status == 200
    before = database_backends(WEB_DB_NAME)
    assert len(before) == 1  # kept open between requests (CONN_MAX_AGE)

    assert terminate_backends(WEB_DB_NAME) == 1
    wait_until(lambda: not database_backends(WEB_DB_NAME), timeout=5, message="backend gone")

    # CONN_HEALTH_CHECKS (production): the dead connection is noticed and replaced before use.
    r = _call("POST", f"{web}{USERS}", key=key, body=user_payload(1), idempotency_key="idle-drop")
    assert r.status == 201, r.body
    assert Customer.objects.count() == 1
    assert database_backends(WEB_DB_NAME) and set(database_backends(WEB_DB_NAME)).isdisjoint(before)


@pytest.mark.parametrize("blocked_at", ["effect", "idempotency_record"])
def test_a_connection_dropped_mid_request_is_a_clean_503_and_the_retry_happens_once(web, blocked_at):
    """The request waits on our lock, either inserting the user or storing its idempotency record.

    Either way the user row and the idempotency record go with the same transaction: after
    the 503 neither exists, and the retry with the same key creates both, once.
    """
    api_key, key = _client_key()
    payload = user_payload(7)
    if blocked_at == "effect":
        # An uncommitted user with the same passport: the server's INSERT waits on the unique index.
        def hold():
            return CustomerFactory(passport_number=payload["passport_number"])
    else:
        # An uncommitted record for the same key: the server has created the user, then waits.
        def hold():
            return IdempotencyRecord.objects.create(api_key=api_key, key="mid-drop", fingerprint="0" * 64,
                                                    response_status=201, response_body="{}",
                                                    expires_at=timezone.now() + timedelta(hours=1))
    assert _call("GET", f"{web}{USERS}", key=key).status == 200  # a warm, persistent connection

    with ThreadPoolExecutor(max_workers=1) as pool, held_transaction(hold):
        pending = pool.submit(_call, "POST", f"{web}{USERS}", key=key, body=payload, idempotency_key="mid-drop")
        wait_until(lambda: database_backends(WEB_DB_NAME, waiting_on_lock=True), timeout=10,
                   message="the request waiting on our lock")
        assert terminate_backends(WEB_DB_NAME) == 1
        r = pending.result(timeout=20)

    assert r.status == 503, r.body
    assert r.headers["Content-Type"].startswith("application/problem+json")
    body = r.json()
    assert (body["code"], body["status"], body["type"]) == \
        ("service_unavailable", 503, "urn:bnpl:problem:service_unavailable")
    assert body["title"] and body["detail"]
    assert not [leak for leak in LEAKS if leak.lower() in r.body.decode().lower()]
    # Nothing half-written: no user from the failed attempt, no record of it (5xx are never stored).
    passport_hash = lookup_hash(payload["passport_number"])
    assert not Customer.objects.filter(passport_hash=passport_hash).exists()
    assert not IdempotencyRecord.objects.filter(key="mid-drop").exists()

    retried = _call("POST", f"{web}{USERS}", key=key, body=payload, idempotency_key="mid-drop")
    assert retried.status == 201, retried.body
    replayed = _call("POST", f"{web}{USERS}", key=key, body=payload, idempotency_key="mid-drop")
    assert (replayed.status, replayed.body, replayed.headers["Idempotent-Replayed"]) == (201, retried.body, "true")
    assert Customer.objects.filter(passport_hash=passport_hash).count() == 1
    assert IdempotencyRecord.objects.filter(key="mid-drop").count() == 1

