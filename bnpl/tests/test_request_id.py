"""X-Request-ID on every response, and CORS from CORS_ALLOWED_ORIGINS."""
import re

import pytest

pytestmark = pytest.mark.django_db

GENERATED = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.parametrize(("url", "status"), [
    ("/api/v1/users/", 200), ("/api/v1/nothing/", 404), ("/api/v1/health/live/", 200), ("/swagger.json", 200),
])
def test_every_response_has_a_generated_request_id(client_api, url, status):
    r = client_api.get(url)
    assert r.status_code == status
    assert GENERATED.match(r["X-Request-ID"])


def test_error_responses_carry_it_too(anon_api):
    r = anon_api.get("/api/v1/users/")
    assert r.status_code == 401 and GENERATED.match(r["X-Request-ID"])


def test_ids_differ_between_requests(client_api):
    assert client_api.get("/api/v1/users/")["X-Request-ID"] != client_api.get("/api/v1/users/")["X-Request-ID"]


@pytest.mark.parametrize("given", ["abc-123", "4b0a1f0e-7c1e-4f7e-9f5a-0d3c2b1a0f9e", "req:1.2_x", "a" * 128])
def test_a_sane_request_id_is_echoed(client_api, given):
    assert client_api.get("/api/v1/users/", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given


@pytest.mark.parametrize("given", ["", "a" * 129, "has space", "<script>", "new\rline", "caf\u00e9"])
def test_an_unsafe_request_id_is_replaced(client_api, given):
    got = client_api.get("/api/v1/users/", HTTP_X_REQUEST_ID=given.encode().decode("latin-1"))["X-Request-ID"]
    assert got != given and GENERATED.match(got)


def test_cors_allows_only_configured_origins(client_api, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    allowed = client_api.get("/api/v1/users/", HTTP_ORIGIN="https://app.example.com")
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "X-Request-ID" in allowed["Access-Control-Expose-Headers"]
    other = client_api.get("/api/v1/users/", HTTP_ORIGIN="https://evil.example.com")
    assert not other.has_header("Access-Control-Allow-Origin")


def test_cors_preflight_allows_the_api_headers(anon_api, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    r = anon_api.options("/api/v1/users/", HTTP_ORIGIN="https://app.example.com",
                         HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                         HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, idempotency-key, content-type")
    assert r.status_code == 200
    assert r["Access-Control-Allow-Origin"] == "https://app.example.com"
    allowed = r["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "idempotency-key" in allowed
