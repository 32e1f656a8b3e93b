"""Idempotency-Key (API.md §3): replay, reuse, scope, validity, expiry, atomicity, concurrency."""
from datetime import timedelta

import pytest
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone

from bnpl.idempotency import _fingerprint, purge_expired
from bnpl.models import IdempotencyRecord, Role
from bnpl.services import api_key_create
from bnpl.tasks import purge_expired_idempotency_records
from bnpl.testing.concurrency import race
from conftest import bearer_client
from users import services as user_services
from users.models import Customer
from users.tests.factories import user_payload

URL = "/api/v1/users/"
db = pytest.mark.django_db


@db
def test_same_key_same_request_replays_status_and_body(client_api):
    first = client_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY="k-1")
    again = client_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == "application/json"
    assert not first.has_header("Idempotent-Replayed")
    assert Customer.objects.count() == 1


@db
@pytest.mark.parametrize("change", ["body", "path"])
def test_same_key_other_request_is_422(client_api, change):
    client_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY="k-2")
    if change == "body":
        r = client_api.post(URL, user_payload(1, full_name="Someone Else"), HTTP_IDEMPOTENCY_KEY="k-2")
    else:
        r = client_api.post(URL + "?x=1", user_payload(1), HTTP_IDEMPOTENCY_KEY="k-2")
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_key_reused"
    assert Customer.objects.count() == 1


def test_fingerprint_covers_method_path_and_body():
    factory = RequestFactory()
    base = _fingerprint(factory.post("/a/", b"{}", content_type="application/json"))
    assert base == _fingerprint(factory.post("/a/", b"{}", content_type="application/json"))
    assert base != _fingerprint(factory.put("/a/", b"{}", content_type="application/json"))
    assert base != _fingerprint(factory.post("/b/", b"{}", content_type="application/json"))
    assert base != _fingerprint(factory.post("/a/?q=1", b"{}", content_type="application/json"))
    assert base != _fingerprint(factory.post("/a/", b"{ }", content_type="application/json"))


@db
def test_same_key_on_another_endpoint_is_422(make_api, merchant):
    op = make_api(Role.OPERATOR)
    assert op.post("/api/v1/merchants/", {"name": "m"}, HTTP_IDEMPOTENCY_KEY="k-x").status_code == 201
    r = op.post(f"/api/v1/merchants/{merchant.id}/rotate-secret/", HTTP_IDEMPOTENCY_KEY="k-x")
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"


@db
def test_keys_are_scoped_per_api_key(make_api):
    a, b = make_api(Role.CLIENT), make_api(Role.CLIENT)
    ra = a.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY="shared")
    rb = b.post(URL, user_payload(2), HTTP_IDEMPOTENCY_KEY="shared")
    assert ra.status_code == rb.status_code == 201
    assert not rb.has_header("Idempotent-Replayed")
    assert ra.json()["id"] != rb.json()["id"]
    assert IdempotencyRecord.objects.count() == 2


@db
@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "caf\u00e9", "new\nline"])
def test_invalid_key_is_400(client_api, key):
    r = client_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY=key.encode().decode("latin-1"))
    assert r.status_code == 400
    assert r.json()["errors"][0]["attr"] == "Idempotency-Key"
    assert not Customer.objects.exists()


@db
@pytest.mark.parametrize("key", ["a", "x" * 255, "~!@#$%^&*() {}", "4b0a1f0e-7c1e-4f7e-9f5a-0d3c2b1a0f9e"])
def test_valid_keys_are_accepted(client_api, key):
    assert client_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY=key).status_code == 201
    assert IdempotencyRecord.objects.get().key == key


@db
def test_a_409_is_stored_and_replayed(client_api):
    client_api.post(URL, user_payload(1))
    first = client_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY="dup")
    assert first.status_code == 409 and first.json()["code"] == "duplicate_user"
    Customer.objects.all().delete()  # the replay must not run the handler again
    again = client_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY="dup")
    assert again.status_code == 409 and again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == "application/problem+json"
    assert not Customer.objects.exists()


@db
def test_a_400_validation_error_is_stored(client_api):
    first = client_api.post(URL, user_payload(1, phone_number="bad"), HTTP_IDEMPOTENCY_KEY="v")
    again = client_api.post(URL, user_payload(1, phone_number="bad"), HTTP_IDEMPOTENCY_KEY="v")
    assert first.status_code == again.status_code == 400
    assert again["Idempotent-Replayed"] == "true"


@db
def test_403_is_not_stored(make_api, merchant):
    merchant_api = make_api(Role.MERCHANT, merchant=merchant)
    r = merchant_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY="forbidden")
    assert r.status_code == 403
    assert not IdempotencyRecord.objects.exists()


@db
def test_401_is_not_stored(anon_api):
    r = anon_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY="anon")
    assert r.status_code == 401
    assert not IdempotencyRecord.objects.exists()


@db
def test_expired_record_is_ignored_and_the_request_runs_again(client_api):
    assert client_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY="old").status_code == 201
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    Customer.objects.all().delete()
    r = client_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY="old")
    assert r.status_code == 201 and not r.has_header("Idempotent-Replayed")
    assert Customer.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert record.expires_at > timezone.now() + timedelta(hours=23)


@db
def test_records_are_kept_at_least_24_hours(client_api):
    client_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY="ttl")
    record = IdempotencyRecord.objects.get()
    assert record.expires_at - record.created_at >= timedelta(hours=24) - timedelta(seconds=1)


def _records(client_api, keys_and_ages):
    now = timezone.now()
    for key, age in keys_and_ages:
        IdempotencyRecord.objects.create(api_key=client_api.api_key, key=key, fingerprint="f", response_status=201,
                                         response_body="{}", expires_at=now - age)


@db
def test_purge_expired_deletes_only_expired(client_api):
    _records(client_api, [("gone", timedelta(seconds=1)), ("gone2", timedelta(days=3)), ("kept", -timedelta(hours=1))])
    assert purge_expired() == 2
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["kept"]


@db
def test_purge_task_is_registered_and_purges(client_api):
    from bnpl.celery import app
    assert "bnpl.tasks.purge_expired_idempotency_records" in app.tasks
    _records(client_api, [("gone", timedelta(minutes=5)), ("kept", -timedelta(hours=1))])
    assert purge_expired_idempotency_records.delay().get() == 1
    assert IdempotencyRecord.objects.count() == 1


@db
def test_a_500_stores_nothing_and_rolls_back_the_effect(client_api, monkeypatch):
    def create_then_crash(**kwargs):
        user_services.user_create(**kwargs)
        raise RuntimeError("boom")

    monkeypatch.setattr("users.api.services.user_create", create_then_crash)
    client_api.raise_request_exception = False
    r = client_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY="crash")
    assert r.status_code == 500
    assert not Customer.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    monkeypatch.undo()
    r = client_api.post(URL, user_payload(1), HTTP_IDEMPOTENCY_KEY="crash")  # nothing happened: retry works
    assert r.status_code == 201 and not r.has_header("Idempotent-Replayed")


@db
def test_stored_response_is_encrypted_at_rest(make_api):
    op = make_api(Role.OPERATOR)
    secret = op.post("/api/v1/merchants/", {"name": "m"}, HTTP_IDEMPOTENCY_KEY="m1").json()["webhook_secret"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT response_body FROM bnpl_idempotencyrecord")
        (stored,) = cursor.fetchone()
    assert secret not in stored and "whsec_" not in stored


# --- the acceptance test: one key, many threads at once -----------------------------------

THREADS = 50


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_exactly_one_user():
    _, raw = api_key_create(role=Role.CLIENT, name="race")
    clients = [bearer_client(raw) for _ in range(THREADS)]  # one each: a test client is not shared across threads
    results = race(THREADS, lambda i: clients[i].post(URL, user_payload(7), HTTP_IDEMPOTENCY_KEY="the-one-key"))

    assert all(not isinstance(r, Exception) and r is not None for r in results), results
    assert Customer.objects.count() == 1
    created = [r for r in results if r.status_code == 201 and not r.has_header("Idempotent-Replayed")]
    assert len(created) == 1
    for r in results:
        if r.status_code == 201:
            assert r.content == created[0].content
        else:
            assert r.status_code == 409 and r.json()["code"] == "idempotency_key_in_use", r.content
    assert IdempotencyRecord.objects.count() == 1
