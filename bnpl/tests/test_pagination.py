"""Cursor pagination (API.md §0): ?limit= default 50, max 200, next/previous, no duplicates."""
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


def test_bad_cursor_is_404_problem(operator_api, merchants):
    r = operator_api.get(URL, {"cursor": "garbage"})
    assert r.status_code == 404 and r.json()["code"] == "not_found"
