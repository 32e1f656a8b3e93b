"""API keys (API.md §1): hashed at rest, roles, revocation and the 401 answers."""
import pytest
from django.db import IntegrityError, connection, transaction

from bnpl.models import ApiKey, Role, hash_api_key
from bnpl.services import api_key_create, api_key_revoke
from conftest import ApiClient

pytestmark = pytest.mark.django_db

URL = "/api/v1/users/"


def _raw_rows(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
        return repr(cursor.fetchall())


def test_only_the_hash_of_a_key_is_stored():
    api_key, raw = api_key_create(role=Role.CLIENT, name="app")
    assert api_key.key_hash == hash_api_key(raw) != raw
    assert raw not in _raw_rows("bnpl_apikey")
    assert raw[12:] not in _raw_rows("bnpl_apikey")  # not even the part after the shown prefix
    assert len(raw) >= 40  # 256 bits of randomness, url-safe


@pytest.mark.parametrize("role", [Role.CLIENT, Role.OPERATOR])
def test_a_key_authenticates_its_role(role):
    _, raw = api_key_create(role=role, name="k")
    client = ApiClient()
    r = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert r.status_code == 200


def test_merchant_key_is_bound_to_its_merchant(merchant, make_api):
    api = make_api(Role.MERCHANT, merchant=merchant)
    assert api.api_key.merchant_id == merchant.id
    r = api.get("/api/v1/merchants/")
    assert [m["id"] for m in r.json()["results"]] == [str(merchant.id)]


@pytest.mark.parametrize(("role", "with_merchant"), [
    (Role.MERCHANT, False), (Role.CLIENT, True), (Role.OPERATOR, True),
])
def test_database_binds_a_merchant_exactly_to_merchant_keys(merchant, role, with_merchant):
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.create(name="x", role=role, merchant=merchant if with_merchant else None,
                              prefix="p", key_hash="h" * 64)


def test_database_refuses_an_unknown_role():
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.create(name="x", role="admin", prefix="p", key_hash="h" * 64)


@pytest.mark.parametrize(("role", "with_merchant"), [(Role.MERCHANT, False), (Role.CLIENT, True), ("admin", False)])
def test_service_refuses_a_bad_role_and_merchant_pair(merchant, role, with_merchant):
    with pytest.raises(ValueError):
        api_key_create(role=role, name="x", merchant=merchant if with_merchant else None)
    assert not ApiKey.objects.exists()


def test_missing_key_is_401_not_authenticated_with_bearer_challenge(anon_api):
    r = anon_api.get(URL)
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"
    assert r["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", [
    "Bearer",                      # no key
    "Bearer a b",                  # two tokens
    "Basic dXNlcjpwYXNz",          # another scheme
    "Token bnpl_abc",
    "Bearer bnpl_does-not-exist",  # unknown key
    "Bearer bnpl_\u00e9t\u00e9",   # not ASCII
])
def test_malformed_or_unknown_key_is_401_authentication_failed(header):
    r = ApiClient().get(URL, HTTP_AUTHORIZATION=header.encode().decode("latin-1"))
    assert r.status_code == 401
    assert r.json()["code"] == "authentication_failed"
    assert r["WWW-Authenticate"] == "Bearer"


def test_scheme_is_case_insensitive(client_api):
    r = ApiClient().get(URL, HTTP_AUTHORIZATION=f"bearer {client_api.raw_key}")
    assert r.status_code == 200


def test_revoked_key_is_401_authentication_failed(client_api):
    assert client_api.get(URL).status_code == 200
    api_key_revoke(api_key=client_api.api_key)
    r = client_api.get(URL)
    assert r.status_code == 401 and r.json()["code"] == "authentication_failed"


def test_revoking_twice_keeps_the_first_time(client_api):
    first = api_key_revoke(api_key=client_api.api_key).revoked_at
    again = api_key_revoke(api_key=ApiKey.objects.get(pk=client_api.api_key.pk)).revoked_at
    assert first == again


def test_401_body_carries_no_key_material(anon_api):
    raw = "bnpl_secret-value-that-must-not-echo"
    r = anon_api.get(URL, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert r.status_code == 401
    assert raw not in r.content.decode()
