"""On PostgreSQL the users list's pages are rendered by the database (``users.selectors.shown_sql``
through ``bnpl.prepared_pages``): they must be, byte for byte, the pages the serializer renders
(``UserSerializer`` through the ORM's path, and through the prepared pages' instances), whatever the
names hold, whatever the limits and what is owed, on every page in both directions."""
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnpl.testing.pages import walk_pages
from plans.models import Installment
from plans.tests.factories import make_plan
from users.api import UserViewSet
from users.models import Customer
from users.selectors import USER_PAGES
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.skipif(connection.vendor != "postgresql",
                                                         reason="the database renders the pages on PostgreSQL only")]

HOSTILE_NAMES = [
    'Zoë "Q" O\'Brien', "back\\slash \\u0041", "line\nbreak\ttab\rreturn", "\x01\x08\x0c\x1f\x7f",
    "\u2028 and \u2029", "😀 \U0010fffd", "</script><b>", "   ", "Ünïcödé ʻOkina 漢字 עברית",
]


def _walk(api, params: dict) -> list[bytes]:
    """Every page's bytes, first to last by ``next``, then back by ``previous``."""
    return [response.content for response in walk_pages(api, "/api/v1/users/", params)]


def _three_ways(monkeypatch, api, params: dict) -> list[bytes]:
    """The pages rendered by the database, then by the serializer over the prepared pages' instances,
    then over the ORM's: the same bytes."""
    api.get("/api/v1/users/")  # the key cached before anything is compared
    rendered = _walk(api, params)
    with monkeypatch.context() as patch:
        patch.setattr(USER_PAGES, "rendered", None)
        instances = _walk(api, params)
    with monkeypatch.context() as patch:
        patch.setattr(UserViewSet, "prepared_pages", None)
        orm = _walk(api, params)
    assert rendered == instances == orm
    return rendered


@pytest.fixture
def book(db):
    users = CustomerFactory.create_batch(len(HOSTILE_NAMES) + 4)
    for user, name in zip(users, HOSTILE_NAMES, strict=False):
        Customer.objects.filter(pk=user.pk).update(full_name=name)
    limited, over, unlimited, no_card = users[-4:]
    Customer.objects.filter(pk=no_card.pk).update(card_mask=None)
    Customer.objects.filter(pk__in=[users[0].pk, limited.pk]).update(credit_limit=5_000_00)
    Customer.objects.filter(pk=users[1].pk).update(credit_limit=1)  # the smallest limit, owing nothing
    Customer.objects.filter(pk=users[2].pk).update(credit_limit=999_999_999_999_99)  # the largest amount
    make_plan(user=limited, total_amount="1000.01", installment_count=4)
    Installment.objects.filter(user=limited).update(fee_amount=1000, fee_waived_amount=100, paid_amount=5)
    make_plan(user=over, total_amount="900.00")
    Customer.objects.filter(pk=over.pk).update(credit_limit=100)  # owes more than its limit: 0.00 left
    make_plan(user=unlimited, total_amount="300.00")
    Customer.objects.filter(pk=unlimited.pk).update(credit_limit=None)
    # A time on the second (no microseconds in its text), and three in one microsecond (offset cursors).
    Customer.objects.filter(pk=users[3].pk).update(created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    moment = datetime.now(UTC) - timedelta(hours=1)
    Customer.objects.filter(pk__in=[u.pk for u in users[4:7]]).update(created_at=moment)
    Customer.objects.filter(pk=users[5].pk).update(status="DEBT_USER")
    return users


@pytest.mark.parametrize("params", [{}, {"limit": "1"}, {"limit": "2"}, {"limit": "5"}, {"status": "NORMAL",
                                                                                          "limit": "3"}])
def test_the_pages_the_database_renders_are_the_serializers(monkeypatch, operator_api, book, params):
    bodies = _three_ways(monkeypatch, operator_api, params)
    shown = {row["id"]: row for body in bodies for row in json.loads(body)["results"]}
    if "status" not in params:
        assert set(shown) >= {str(user.pk) for user in book}
    names = {row["full_name"] for row in shown.values()}
    assert "status" in params or set(HOSTILE_NAMES) <= names


def test_what_it_renders_are_the_figures_of_the_contract(operator_api, book):
    limited, over, unlimited, no_card = book[-4:]
    rows = {row["id"]: row for row in operator_api.get("/api/v1/users/", {"limit": "200"}).json()["results"]}
    assert rows[str(limited.pk)]["available_credit"] == "3964.19"  # 5,000 - (1,000.01 + 4 x 10 - 4 x 1 - 4 x 0.05)
    assert rows[str(over.pk)]["credit_limit"] == "1.00" and rows[str(over.pk)]["available_credit"] == "0.00"
    assert rows[str(unlimited.pk)]["credit_limit"] is None and rows[str(unlimited.pk)]["available_credit"] is None
    assert rows[str(no_card.pk)]["card_number"] is None
    assert rows[str(book[2].pk)]["credit_limit"] == "999999999999.99"
    assert rows[str(book[3].pk)]["created_at"] == "2026-01-02T03:04:05Z"
    assert rows[str(book[0].pk)]["phone_number"].startswith("+998") and "*" in rows[str(book[0].pk)]["phone_number"]


def test_a_page_is_one_statement_and_no_instance(monkeypatch, operator_api, book):
    operator_api.get("/api/v1/users/")  # the key cached

    def no_instances(*args, **kwargs):
        raise AssertionError("the rendered page built a Customer")

    monkeypatch.setattr(Customer, "from_db", no_instances)
    with CaptureQueriesContext(connection) as queries:
        response = operator_api.get("/api/v1/users/", {"limit": "3"})
    assert response.status_code == 200 and len(response.json()["results"]) == 3
    [page] = queries.captured_queries
    assert ") page ORDER BY" in page["sql"]  # the page statement, wrapped


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(name=st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1,
                    max_size=80),
       limit=st.none() | st.integers(min_value=1, max_value=999_999_999_999_99),
       paid=st.integers(min_value=0, max_value=99_99),
       microsecond=st.sampled_from([0, 1, 10, 999_999, 123_456]))
def test_any_customer_is_rendered_as_the_serializer_renders_it(monkeypatch, operator_api, owing, name, limit, paid,
                                                              microsecond):
    Customer.objects.filter(pk=owing.pk).update(
        full_name=name, credit_limit=limit,
        created_at=datetime(2030, 1, 1, tzinfo=UTC).replace(microsecond=microsecond))
    Installment.objects.filter(user=owing, sequence=1).update(paid_amount=paid)
    [body] = _three_ways(monkeypatch, operator_api, {"limit": "1"})
    assert json.loads(body)["results"][0]["full_name"] == name


@pytest.fixture
def owing(db):
    user = CustomerFactory.create()
    make_plan(user=user, total_amount="300.00")  # three installments of 100.00
    return user


@pytest.mark.parametrize("currency", ["KWD", "JPY"])
def test_a_page_rendered_after_the_currency_changed_has_the_new_places(monkeypatch, operator_api, book, currency):
    from django.test import override_settings

    operator_api.get("/api/v1/users/")  # the page's SQL written with the places of BNPL_CURRENCY (2)
    with override_settings(BNPL_CURRENCY=currency):
        [body] = _three_ways(monkeypatch, operator_api, {"limit": "200"})
    limits = {row["credit_limit"] for row in json.loads(body)["results"]}
    assert ("500.000" if currency == "KWD" else "500000") in limits  # 500,000 minor units (5,000.00 in UZS)


def test_the_rendered_pages_without_server_side_statements(monkeypatch, operator_api, book, settings):
    settings.BNPL_PG_PREPARED_STATEMENTS = False  # behind a pooler in transaction mode
    with CaptureQueriesContext(connection) as queries:
        _three_ways(monkeypatch, operator_api, {"limit": "4"})
    assert not any(q["sql"].startswith(("PREPARE", "EXECUTE")) for q in queries.captured_queries)
    assert any(") page ORDER BY" in q["sql"] for q in queries.captured_queries)
