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
