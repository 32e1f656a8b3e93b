"""/api/v1/users/ (API.md §4) over HTTP: create, read, filter, update; masks everywhere."""
import json
import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bnpl.models import Role
from bnpl.services import api_key_create
from bnpl.testing.concurrency import race
from conftest import bearer_client
from users.models import Customer, UserStatus
from users.tests.factories import CustomerFactory, user_payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/users/"
VALID = {"full_name": "John Doe", "phone_number": "+998901234567", "passport_number": "AA1234567",
         "date_of_birth": "1990-05-17", "card_number": "4111 1111 1111 1111"}
MASKED = {"full_name": "John Doe", "phone_number": "+998****4567", "passport_number": "AA*******",
          "date_of_birth": "1990-**-**", "card_number": "4111 **** **** 1111", "status": "NORMAL"}
USER_FIELDS = {"id", "full_name", "phone_number", "passport_number", "date_of_birth", "card_number", "status",
               "credit_limit", "available_credit", "created_at"}  # v1.1: credit controls (API.md §12)
RAW = ["+998901234567", "998901234567", "AA1234567", "1234567", "4111111111111111", "4111 1111 1111 1111",
       "1990-05-17", "05-17"]


def _no_raw(text: str) -> None:
    for raw in RAW:
        assert raw not in text, raw


def test_create_returns_the_masked_user(client_api):
    r = client_api.post(URL, VALID)
    assert r.status_code == 201
    body = r.json()
    assert set(body) == USER_FIELDS
    assert {k: body[k] for k in MASKED} == MASKED
    assert "+" in body["created_at"] or body["created_at"].endswith("Z")
    _no_raw(r.content.decode())
    assert Customer.objects.get().id.hex == body["id"].replace("-", "")


def test_create_accepts_a_card_with_dashes_and_no_card(client_api):
    r = client_api.post(URL, user_payload(1, card_number="4111-1111-1111-1111"))
    assert r.status_code == 201 and r.json()["card_number"] == "4111 **** **** 1111"
    body = user_payload(2)
    del body["card_number"]
    assert client_api.post(URL, body).json()["card_number"] is None
    assert client_api.post(URL, user_payload(3, card_number=None)).json()["card_number"] is None


def test_list_and_detail_are_masked(client_api, operator_api):
    created = client_api.post(URL, VALID).json()
    for api in (client_api, operator_api):
        listed = api.get(URL)
        assert listed.json()["results"] == [created]
        detail = api.get(f"{URL}{created['id']}/")
        assert detail.json() == created
        _no_raw(listed.content.decode() + detail.content.decode())


@pytest.mark.parametrize(("field", "value"), [
    ("phone_number", "+998 90 123 45 67"), ("phone_number", "998901234567"), ("phone_number", "+99890"),
    ("passport_number", "AB12"), ("passport_number", "AB 12345"), ("passport_number", "A" * 21),
    ("card_number", "4111111111111112"), ("card_number", "41111111111"),
    ("date_of_birth", "17.05.1990"), ("date_of_birth", "1990-02-30"),
    ("full_name", ""), ("full_name", "x" * 201),
])
def test_invalid_field_is_400_about_that_field(client_api, field, value):
    r = client_api.post(URL, {**VALID, field: value})
    assert r.status_code == 400
    assert r.json()["code"] == "validation_error"
    assert [e["attr"] for e in r.json()["errors"]] == [field]
    assert not Customer.objects.exists()


@pytest.mark.parametrize("field", ["full_name", "phone_number", "passport_number", "date_of_birth"])
def test_required_fields(client_api, field):
    body = dict(VALID)
    del body[field]
    r = client_api.post(URL, body)
    assert r.status_code == 400 and r.json()["errors"] == [
        {"attr": field, "code": "required", "detail": "This field is required."}]


def test_under_18_is_400(client_api):
    from bnpl.dates import business_today
    today = business_today()
    born = today.replace(year=today.year - 18, day=min(today.day, 28))
    if born.day == today.day and born.month == today.month:
        r = client_api.post(URL, user_payload(1, date_of_birth=born.isoformat()))
        assert r.status_code == 201
    r = client_api.post(URL, user_payload(2, date_of_birth=today.replace(year=today.year - 10).isoformat()))
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "date_of_birth"


def test_duplicate_passport_is_409(client_api):
    assert client_api.post(URL, VALID).status_code == 201
    r = client_api.post(URL, {**VALID, "phone_number": "+998912223344"})
    assert r.status_code == 409 and r.json()["code"] == "duplicate_user"
    assert Customer.objects.count() == 1


def test_duplicate_passport_is_case_insensitive(client_api):
    assert client_api.post(URL, VALID).status_code == 201
    r = client_api.post(URL, {**VALID, "passport_number": "aa1234567"})
    assert r.status_code == 409 and r.json()["code"] == "duplicate_user"


def test_passport_is_stored_upper_case(client_api):
    r = client_api.post(URL, {**VALID, "passport_number": "ab1234567"})
    assert r.json()["passport_number"] == "AB*******"
    assert Customer.objects.get().passport_number == "AB1234567"


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_of_one_passport_over_http():
    _, raw = api_key_create(role=Role.CLIENT, name="race")
    clients = [bearer_client(raw) for _ in range(2)]  # one each: a test client is not shared across threads
    statuses = race(2, lambda i: clients[i].post(URL, user_payload(i + 1, passport_number="CC7654321")).status_code,
                    timeout=30)
    assert sorted(statuses, key=str) == [201, 409], statuses
    assert Customer.objects.count() == 1


def test_status_filter(client_api):
    normal = CustomerFactory()
    in_debt = CustomerFactory(status=UserStatus.DEBT_USER)
    ids = lambda r: [u["id"] for u in r.json()["results"]]  # noqa: E731
    assert ids(client_api.get(URL, {"status": "DEBT_USER"})) == [str(in_debt.id)]
    assert ids(client_api.get(URL, {"status": "NORMAL"})) == [str(normal.id)]
    assert set(ids(client_api.get(URL))) == {str(normal.id), str(in_debt.id)}
    r = client_api.get(URL, {"status": "WHATEVER"})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "status"


def test_phone_filter_is_an_exact_match(client_api):
    wanted = CustomerFactory(phone_number="+998901234567")
    CustomerFactory(phone_number="+998901234568")
    r = client_api.get(URL, {"phone_number": "+998901234567"})
    assert [u["id"] for u in r.json()["results"]] == [str(wanted.id)]
    assert client_api.get(URL, {"phone_number": "+998909999999"}).json()["results"] == []


def test_phone_filter_with_an_unencoded_plus(client_api):
    wanted = CustomerFactory(phone_number="+998901234567")
    r = client_api.get(URL + "?phone_number=+998901234567")  # the "+" arrives as a space
    assert r.status_code == 200
    assert [u["id"] for u in r.json()["results"]] == [str(wanted.id)]


@pytest.mark.parametrize("value", ["998901234567", "+99890", "abc", "+998 90 123 45 67"])
def test_invalid_phone_filter_is_400(client_api, value):
    r = client_api.get(URL, {"phone_number": value})
    assert r.status_code == 400
    assert r.json()["errors"][0]["attr"] == "phone_number"


def test_patch_phone_card_and_name(client_api):
    user = client_api.post(URL, VALID).json()
    r = client_api.patch(f"{URL}{user['id']}/", {"full_name": "John Smith", "phone_number": "+998912223344",
                                                 "card_number": "5500 0055 5555 5559"})
    assert r.status_code == 200
    body = r.json()
    assert (body["full_name"], body["phone_number"], body["card_number"]) == (
        "John Smith", "+998****3344", "5500 **** **** 5559")
    assert body["passport_number"] == "AA*******" and body["id"] == user["id"]
    assert client_api.get(URL, {"phone_number": "+998912223344"}).json()["results"][0]["id"] == user["id"]
    assert client_api.get(URL, {"phone_number": "+998901234567"}).json()["results"] == []


def test_patch_card_null_removes_it(client_api):
    user = client_api.post(URL, VALID).json()
    r = client_api.patch(f"{URL}{user['id']}/", {"card_number": None})
    assert r.status_code == 200 and r.json()["card_number"] is None
    assert Customer.objects.get().card_number is None


@pytest.mark.parametrize("body", [{"status": "DEBT_USER"}, {"status": "NORMAL", "full_name": "X"},
                                  {"passport_number": "ZZ1234567"}, {"date_of_birth": "1980-01-01"},
                                  {"id": "7d4f1a56-0000-4000-8000-000000000000"}])
def test_patch_of_a_read_only_field_is_400_and_changes_nothing(client_api, body):
    user = client_api.post(URL, VALID).json()
    r = client_api.patch(f"{URL}{user['id']}/", body)
    assert r.status_code == 400
    assert {e["attr"] for e in r.json()["errors"]} == set(body) - {"full_name"}
    assert client_api.get(f"{URL}{user['id']}/").json() == user


def test_patch_with_an_invalid_value_is_400(client_api):
    user = client_api.post(URL, VALID).json()
    r = client_api.patch(f"{URL}{user['id']}/", {"card_number": "4111111111111112"})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "card_number"
    assert client_api.get(f"{URL}{user['id']}/").json() == user


def test_patch_unknown_user_is_404(client_api):
    r = client_api.patch(f"{URL}7d4f1a56-0000-4000-8000-000000000000/", {"full_name": "X"})
    assert r.status_code == 404


@pytest.mark.parametrize(("field", "value"), [("phone_number", 998901234567), ("passport_number", 1234567),
                                            ("card_number", 4111111111111111), ("full_name", 5)])
def test_personal_data_must_be_strings(client_api, field, value):
    r = client_api.post(URL, {**VALID, field: value})
    assert r.status_code == 400 and [e["attr"] for e in r.json()["errors"]] == [field]


def test_no_raw_personal_data_in_any_log_line(client_api, caplog):
    for name in (None, "django", "django.request", "django.db.backends", "bnpl", "users"):
        caplog.set_level(logging.DEBUG, logger=name)
    with CaptureQueriesContext(connection):  # SQL and its parameters are logged too
        _log_flow(client_api)
    messages = [r.getMessage() for r in caplog.records]
    assert any("Bad Request" in m for m in messages) and any("INSERT" in m for m in messages)
    raw = RAW + ["+998912223344", "998912223344", "5500005555555559", "BB7777777", "4111111111111112"]
    for record in caplog.records:
        text = record.getMessage() + " " + json.dumps(record.args, default=str)
        for value in raw:
            assert value not in text, (value, record.name, text)


def _log_flow(client_api):
    user = client_api.post(URL, VALID).json()
    client_api.patch(f"{URL}{user['id']}/", {"phone_number": "+998912223344", "card_number": "5500005555555559"})
    client_api.get(URL)
    client_api.get(URL, {"phone_number": "+998912223344"})
    client_api.post(URL, VALID)  # 409 duplicate
    client_api.post(URL, {**VALID, "passport_number": "BB7777777", "phone_number": "+99891"})  # 400
    client_api.post(URL, {**VALID, "passport_number": "BB7777777", "card_number": "4111111111111112"})  # 400
    client_api.get(URL, {"phone_number": "+99899"})  # 400


def test_filters_still_run_whenever_there_is_a_query_string(operator_api):
    """bnpl.filters.QueryFilterBackend skips the FilterSet only when there is nothing to filter by."""
    user = CustomerFactory()
    assert operator_api.get(f"/api/v1/users/{user.id}/").status_code == 200
    assert operator_api.get(f"/api/v1/users/{user.id}/?status=NO_SUCH_STATUS").status_code == 400
    assert operator_api.get("/api/v1/users/?status=NO_SUCH_STATUS").status_code == 400
    assert [u["id"] for u in operator_api.get("/api/v1/users/").json()["results"]] == [str(user.id)]
    assert operator_api.get("/api/v1/users/?status=DEBT_USER").json()["results"] == []
