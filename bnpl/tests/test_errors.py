"""One error shape (API.md §2): problem+json for every 4xx/5xx, no stack trace, no personal data."""
import json

import pytest
from django.http import HttpResponse
from django.urls import include, path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.permissions import AllowAny

from bnpl import errors
from conftest import ApiClient, assert_problem
from users.tests.factories import CustomerFactory, user_payload

pytestmark = pytest.mark.django_db


# --- a throwaway urlconf for the 500 tests -------------------------------------------------

@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def drf_boom(request):
    raise RuntimeError("secret detail +998901234567 in a traceback")


def django_boom(request):
    raise KeyError("passport AA1234567")


def plain_ok(request):
    return HttpResponse("ok")


urlpatterns = [
    path("api/v1/boom/", drf_boom),
    path("boom/", django_boom),
    path("ok/", plain_ok),
    path("", include("bnpl.urls")),
]
handler404 = "bnpl.errors.handler404"
handler500 = "bnpl.errors.handler500"


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("url", ["/api/v1/boom/", "/boom/"])
def test_unhandled_exception_is_a_problem_500_without_stack_trace(url):
    client = ApiClient()
    client.raise_request_exception = False
    r = client.get(url)
    assert r.status_code == 500
    body = assert_problem(r)
    assert body["code"] == "server_error"
    text = r.content.decode()
    for leak in ("Traceback", "RuntimeError", "KeyError", "998901234567", "AA1234567", ".py"):
        assert leak not in text


# --- Django-level errors ------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/api/v1/nothing-here/", "/api/v2/users/", "/nowhere", "/api/v1/users/x/y/"])
def test_unknown_url_is_problem_404(client_api, url):
    r = client_api.get(url)
    assert r.status_code == 404
    assert assert_problem(r)["code"] == "not_found"


def test_unknown_object_is_problem_404(client_api):
    r = client_api.get("/api/v1/users/7d4f1a56-0000-4000-8000-000000000000/")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_malformed_id_is_404_not_500(client_api):
    r = client_api.get("/api/v1/users/not-a-uuid/")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


# --- DRF errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["put", "delete"])
def test_method_not_allowed_is_problem_405(client_api, method):
    user = CustomerFactory()
    r = getattr(client_api, method)(f"/api/v1/users/{user.id}/")
    assert r.status_code == 405
    assert r.json()["code"] == "method_not_allowed"


def test_put_on_a_collection_is_405(client_api):
    r = client_api.put("/api/v1/users/", "{}", content_type="application/json")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize("body", ["{not json", '{"a": 1,}', '{"amount": NaN}', '{"x": Infinity}', "\xff\xfe"])
def test_body_that_is_not_json_is_400_parse_error(client_api, body):
    r = client_api.post("/api/v1/users/", body, content_type="application/json")
    assert r.status_code == 400
    assert r.json()["code"] == "parse_error"


def test_form_encoded_post_is_415(client_api):
    r = client_api.post("/api/v1/users/", "full_name=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415
    assert r.json()["code"] == "unsupported_media_type"


def test_validation_error_lists_every_field(client_api):
    r = client_api.post("/api/v1/users/", {"full_name": "x"})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "validation_error"
    attrs = {e["attr"] for e in body["errors"]}
    assert {"phone_number", "passport_number", "date_of_birth"} <= attrs
    assert all(e["code"] == "required" for e in body["errors"])


def test_domain_error_is_problem_409(client_api):
    assert client_api.post("/api/v1/users/", user_payload(1)).status_code == 201
    r = client_api.post("/api/v1/users/", user_payload(1, phone_number="+998912222222"))
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "duplicate_user" and body["type"].endswith("duplicate_user")
    assert "errors" not in body


def test_permission_denied_is_problem_403(merchant_api):
    r = merchant_api.get("/api/v1/users/")
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"


@pytest.mark.parametrize("value", ["+99891765432199999", "998917654321", "+1 555 0100", "+99891abcdefg"])
def test_invalid_phone_is_not_echoed(client_api, value):
    r = client_api.post("/api/v1/users/", user_payload(2, phone_number=value))
    assert r.status_code == 400
    assert [e["attr"] for e in r.json()["errors"]] == ["phone_number"]
    text = r.content.decode()
    assert value not in text and value.lstrip("+")[:9] not in text


@pytest.mark.parametrize("value", ["AB12", "AB-1234567", "AB1234567890123456789", "ПАС1234567"])
def test_invalid_passport_is_not_echoed(client_api, value):
    r = client_api.post("/api/v1/users/", user_payload(3, passport_number=value))
    assert r.status_code == 400
    assert [e["attr"] for e in r.json()["errors"]] == ["passport_number"]
    assert value not in r.content.decode()


@pytest.mark.parametrize("value", ["4111 1111 1111 1112", "4111-1111-1111", "41111111111111111111", "4111x111111111"])
def test_invalid_card_is_not_echoed(client_api, value):
    r = client_api.post("/api/v1/users/", user_payload(4, card_number=value))
    assert r.status_code == 400
    assert [e["attr"] for e in r.json()["errors"]] == ["card_number"]
    text = r.content.decode()
    assert value not in text and value.replace(" ", "").replace("-", "") not in text


def test_invalid_date_of_birth_is_not_echoed(client_api):
    r = client_api.post("/api/v1/users/", user_payload(5, date_of_birth="1990-13-45"))
    assert r.status_code == 400
    assert "1990-13-45" not in r.content.decode()


def test_invalid_phone_filter_is_not_echoed(client_api):
    r = client_api.get("/api/v1/users/", {"phone_number": "+9989176543"})
    assert r.status_code == 400
    assert "9989176543" not in r.content.decode()


# --- the handler itself -------------------------------------------------------------------

def test_nested_validation_errors_are_flattened():
    exc = ValidationError({"items": [{"amount": ["bad"]}, {}], "name": ["required"]})
    response = errors.problem_exception_handler(exc, {})
    assert response.status_code == 400
    assert response.data["errors"] == [
        {"attr": "items.0.amount", "code": "invalid", "detail": "bad"},
        {"attr": "name", "code": "invalid", "detail": "required"},
    ]


def test_throttled_has_retry_after_rounded_up():
    response = errors.problem_exception_handler(Throttled(wait=2.1), {})
    assert response.status_code == 429
    assert response.data["code"] == "throttled"
    assert response["Retry-After"] == "3"
    assert errors.problem_exception_handler(Throttled(wait=5), {})["Retry-After"] == "5"


def test_validation_failed_is_a_400_about_one_field():
    response = errors.problem_exception_handler(errors.ValidationFailed("amount", "Too much.", "too_much"), {})
    assert response.status_code == 400
    assert response.data["code"] == "validation_error"
    assert response.data["errors"] == [{"attr": "amount", "code": "too_much", "detail": "Too much."}]


@pytest.mark.parametrize(("cls", "status"), [
    (errors.InvalidState, 409), (errors.UserInDebt, 409), (errors.DuplicateUser, 409),
    (errors.RefundExceedsRefundable, 409), (errors.DuplicateTransaction, 409), (errors.IdempotencyKeyInUse, 409),
    (errors.IdempotencyKeyReused, 422), (errors.InvalidSignature, 401), (errors.ServiceUnavailable, 503)])
def test_every_domain_error_maps_to_its_status_and_code(cls, status):
    response = errors.problem_exception_handler(cls(), {})
    assert response.status_code == status
    assert response.data["code"] == cls.code and response.data["status"] == status
    assert response.content_type == errors.PROBLEM_CONTENT_TYPE


def test_domain_errors_know_nothing_of_http():
    assert not any(hasattr(cls, "status_code") for cls in errors.DomainError.__subclasses__())
    assert "rest_framework" not in errors.ValidationFailed.__module__

    class NewRefusal(errors.DomainError):
        code = "something_new"

    assert errors.problem_exception_handler(NewRefusal(), {}).status_code == 409


def test_database_outage_is_503_service_unavailable():
    from django.db import OperationalError
    response = errors.problem_exception_handler(OperationalError("connection refused to 10.0.0.1"), {})
    assert response.status_code == 503
    assert "10.0.0.1" not in json.dumps(response.data)


def test_unknown_exception_is_left_to_handler500():
    assert errors.problem_exception_handler(RuntimeError("x"), {}) is None


@pytest.mark.parametrize("idempotency_key", [None, "big-1"])
def test_body_above_the_upload_limit_is_413(client_api, settings, idempotency_key):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps(user_payload(1, full_name="x" * 2000))
    extra = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    r = client_api.post("/api/v1/users/", body, content_type="application/json", **extra)
    assert r.status_code == 413
    assert r.json()["code"] == "request_too_large"


def test_body_at_the_limit_is_parsed(client_api, settings):
    body = json.dumps(user_payload(1))
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body.encode())
    assert client_api.post("/api/v1/users/", body, content_type="application/json").status_code == 201
