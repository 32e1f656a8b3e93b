"""The OpenAPI schema (API.md §9): renders, Bearer scheme, every users/merchants path, problem bodies."""
import pytest

pytestmark = pytest.mark.django_db

PATHS = {
    "/users/": {"get", "post"},
    "/users/{id}/": {"get", "patch"},
    "/merchants/": {"get", "post"},
    "/merchants/{id}/": {"get"},
    "/merchants/{id}/rotate-secret/": {"post"},
}
PROBLEM_REF = "#/definitions/Problem"


@pytest.fixture
def schema(anon_api):
    r = anon_api.get("/swagger.json")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/json")
    body = r.json()
    full = {body["basePath"].rstrip("/") + path: ops for path, ops in body["paths"].items()}
    # The API's own paths, relative to /api/v1 (the webhook lives outside it, under /webhook/).
    body["api_paths"] = {path.removeprefix("/api/v1"): ops for path, ops in full.items()
                         if path.startswith("/api/v1/")}
    body["full_paths"] = full
    return body


@pytest.mark.parametrize("accept", ["*/*", "text/html,application/xhtml+xml,*/*;q=0.8", "application/json"])
def test_schema_json_is_json_for_any_client(anon_api, accept):
    r = anon_api.get("/swagger.json", HTTP_ACCEPT=accept)
    assert r.status_code == 200 and r["Content-Type"].startswith("application/json")
    assert r.json()["swagger"] == "2.0"


def test_schema_is_swagger_2_covering_the_api_and_the_webhook(schema):
    assert schema["swagger"] == "2.0"
    assert all(path.startswith(("/api/v1/", "/webhook/")) for path in schema["full_paths"])
    assert "/webhook/refund-status/" in schema["full_paths"]


def test_bearer_security_definition(schema):
    bearer = schema["securityDefinitions"]["Bearer"]
    assert bearer["type"] == "apiKey" and bearer["in"] == "header" and bearer["name"] == "Authorization"
    assert {"Bearer": []} in schema["security"]


def test_every_users_and_merchants_path_and_method(schema):
    for path, methods in PATHS.items():
        assert path in schema["api_paths"], path
        documented = set(schema["api_paths"][path]) - {"parameters"}
        assert documented == methods, (path, documented)


def test_problem_definition(schema):
    problem = schema["definitions"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert set(problem["properties"]["errors"]["items"]["properties"]) == {"attr", "code", "detail"}


@pytest.mark.parametrize(("path", "method", "codes"), [
    ("/users/", "get", {"401", "403"}),
    ("/users/", "post", {"400", "401", "403", "409", "413", "415"}),
    ("/users/{id}/", "get", {"401", "403", "404"}),
    ("/users/{id}/", "patch", {"400", "401", "403", "404"}),
    ("/merchants/", "post", {"400", "401", "403"}),
    ("/merchants/{id}/rotate-secret/", "post", {"401", "403", "404"}),
])
def test_error_responses_reference_the_problem_schema(schema, path, method, codes):
    responses = schema["api_paths"][path][method]["responses"]
    for code in codes:
        assert responses[code]["schema"] == {"$ref": PROBLEM_REF}, (path, method, code)
        assert responses[code]["description"]


def test_success_bodies_are_documented(schema):
    users = schema["api_paths"]["/users/"]
    assert users["post"]["responses"]["201"]["schema"] == {"$ref": "#/definitions/User"}
    user = schema["definitions"]["User"]["properties"]
    assert {"id", "full_name", "phone_number", "passport_number", "date_of_birth", "card_number", "status",
            "created_at"} <= set(user)
    merchant_created = schema["api_paths"]["/merchants/"]["post"]["responses"]["201"]["schema"]["$ref"]
    assert "webhook_secret" in schema["definitions"][merchant_created.rsplit("/", 1)[1]]["properties"]
    merchant_read = schema["api_paths"]["/merchants/{id}/"]["get"]["responses"]["200"]["schema"]["$ref"]
    assert "webhook_secret" not in schema["definitions"][merchant_read.rsplit("/", 1)[1]]["properties"]


def test_post_documents_the_idempotency_key(schema):
    for path in ("/users/", "/merchants/", "/merchants/{id}/rotate-secret/"):
        names = {p["name"] for p in schema["api_paths"][path]["post"]["parameters"]}
        assert "Idempotency-Key" in names, path


def test_list_documents_cursor_pagination(schema):
    names = {p["name"] for p in schema["api_paths"]["/users/"]["get"]["parameters"]}
    assert {"cursor", "limit", "status", "phone_number"} <= names


@pytest.mark.parametrize("url", ["/swagger/", "/redoc/"])
def test_ui_pages_render(anon_api, url):
    r = anon_api.get(url)
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/html")
    assert b"<html" in r.content.lower()


def test_contract_decisions_are_in_the_schema(schema):
    description = schema["info"]["description"]
    assert "## Contract decisions" in description
    assert "does_not_exist" in description and "request_too_large" in description
