"""Cursor pagination (API.md §0): ?limit= default 50, max 200, next/previous, no duplicates."""
import base64

import pytest

from merchants.models import Merchant, generate_webhook_secret

pytestmark = pytest.mark.django_db

URL = "/api/v1/merchants/"


@pytest.fixture
def merchants(db):
    Merchant.objects.bulk_create(Merchant(name=f"M{i}", webhook_secret=generate_webhook_secret())
                                 for i in range(205))
    return set(map(str, Merchant.objects.values_list("id", flat=True)))


def test_default_page_is_50(operator_api, merchants):
    body = operator_api.get(URL).json()
    assert set(body) == {"next", "previous", "results"}
    assert len(body["results"]) == 50
    assert body["previous"] is None and body["next"].startswith("http")


@pytest.mark.parametrize(("limit", "size"), [("1", 1), ("200", 200), ("500", 200)])
def test_limit_is_capped_at_200(operator_api, merchants, limit, size):
    assert len(operator_api.get(URL, {"limit": limit}).json()["results"]) == size


def test_walking_next_visits_every_row_once_and_previous_goes_back(operator_api, merchants):
    seen, pages, url = [], [], f"{URL}?limit=60"
    while url:
        body = operator_api.get(url).json()
        pages.append(body)
        seen += [m["id"] for m in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 205
    assert set(seen) == merchants
    assert [len(p["results"]) for p in pages] == [60, 60, 60, 25]
    back = operator_api.get(pages[-1]["previous"]).json()
    assert [m["id"] for m in back["results"]] == [m["id"] for m in pages[-2]["results"]]


def test_newest_first(operator_api, merchants):
    results = operator_api.get(URL, {"limit": 200}).json()["results"]
    stamps = [m["created_at"] for m in results]
    assert stamps == sorted(stamps, reverse=True)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# API.md §0 (v1.1): a tampered cursor is 400 validation_error, never a 404 or a 500.
@pytest.mark.parametrize("cursor", [
    "garbage", "cD14",  # base64 of "p=x": DRF would compare created_at with "x" (a 500)
    _b64("p=2026-01-01"), _b64("p=2026-13-45 10:00:00+00:00"), _b64("p=2026-01-01 10:00:00"),
    _b64("p=٢٠٢٦-01-01 10:00:00+00:00"), _b64("o=-1"), _b64("o=٥"), _b64("o=99999999999"), _b64("r=2"),
    _b64("o=1&o=2"), _b64("x=1"), _b64("o=1&r=0&p=2026-01-01+10:00:00%2B00:00&q=1"), "%%%", "٥٥٥٥", "a" * 600,
], ids=lambda c: c[:20])
def test_tampered_cursor_is_400_validation_error(operator_api, merchants, cursor):
    r = operator_api.get(URL, {"cursor": cursor})
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["code"] == "validation_error" and body["errors"][0]["attr"] == "cursor"


def test_an_issued_cursor_decodes_both_ways(operator_api, merchants):
    first = operator_api.get(URL, {"limit": 2}).json()
    second = operator_api.get(first["next"]).json()
    back = operator_api.get(second["previous"]).json()
    assert [m["id"] for m in back["results"]] == [m["id"] for m in first["results"]]


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "٥", "5.0", "1e2", "", "99999999999999999999"])
def test_limit_that_is_not_a_positive_ascii_integer_is_400(operator_api, merchants, limit):
    r = operator_api.get(URL, {"limit": limit})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "limit"


def _paginated_list_paths(schema: dict) -> list[str]:
    """Every GET of the served schema whose 200 is the paginated envelope (inline or a definition)."""
    def resolve(node: dict) -> dict:
        ref = node.get("$ref", "")
        return schema["definitions"][ref.rsplit("/", 1)[1]] if ref else node

    paths = []
    for path, operations in schema["paths"].items():
        ok = operations.get("get", {}).get("responses", {}).get("200", {})
        if {"next", "previous", "results"} <= set(resolve(ok.get("schema", {})).get("properties", {})):
            paths.append(path)
    return paths


def test_a_tampered_cursor_is_400_on_every_list_endpoint(make_api, merchant):
    """Issue 15: ``?cursor=cD14`` was a 500 on every list. Every paginated GET of the served schema,
    with real ids in its path, answers a tampered cursor with 400 ``validation_error`` on ``cursor``."""
    from django.test import Client

    from bnpl.models import Role
    from events.models import Audience, WebhookEndpoint
    from plans.tests.factories import make_plan

    plan = make_plan(merchant=merchant)
    endpoint = WebhookEndpoint.objects.create(url="https://hooks.example/in", audience=Audience.MERCHANT,
                                              merchant=merchant, event_types=[], secret="whsec_cursor")
    ids = {"user_id": plan.user_id, "plan_id": plan.pk, "id": endpoint.pk}
    paths = _paginated_list_paths(Client().get("/swagger.json").json())
    assert {"/api/v1/plans/", "/api/v1/events/", "/api/v1/payouts/", "/api/v1/users/{user_id}/transactions/",
            "/api/v1/webhook-endpoints/{id}/deliveries/", "/api/v1/debt/{user_id}/repayments/"} <= set(paths)
    assert len(paths) >= 13
    apis = [make_api(Role.OPERATOR), make_api(Role.CLIENT), make_api(Role.MERCHANT, merchant=merchant)]
    for path in paths:
        url = path.format(**ids)
        for cursor in ("cD14", _b64("o=1&p=x"), "garbage"):
            answers = {api.get(url, {"cursor": cursor}).status_code for api in apis}
            assert all(code < 500 for code in answers), (url, cursor, answers)
            assert 400 in answers, (url, cursor, answers)  # the role that may read it
            r = next(r for api in apis if (r := api.get(url, {"cursor": cursor})).status_code == 400)
            assert r.json()["errors"][0]["attr"] == "cursor", (url, r.json())


def test_every_list_documents_its_400_and_its_cursor_and_limit():
    """A list answers a bad filter, limit or cursor with 400: the schema says so on each (schemathesis
    found a list, a custom action, documenting neither the 400 nor its pagination parameters)."""
    from django.test import Client

    schema = Client().get("/swagger.json").json()
    for path in _paginated_list_paths(schema):
        operation = schema["paths"][path]["get"]
        assert "400" in operation["responses"], path
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert {"cursor", "limit"} <= query, (path, query)
