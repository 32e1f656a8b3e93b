"""The lists read through ``bnpl.prepared_pages`` answer exactly what the ORM's way answers.

Each list is walked page after page forward (``next``) and back (``previous``), at several page
sizes, with rows created in the same microsecond (so cursors carry an offset), filtered and
scoped to a merchant key, once through the prepared statements and once through the ORM (the
view's ``prepared_pages`` switched off): every page the same, the statements no more.
"""
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bnpl.prepared_pages import PageSource
from bnpl.testing.pages import walk_pages
from plans.api import PlanViewSet
from plans.models import Plan
from plans.services import plan_create
from plans.tests.factories import make_plan
from users.api import UserViewSet
from users.models import Customer
from users.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _walk(api, path: str, params: dict) -> tuple[list[dict], int]:
    """Every page from the first to the last by ``next``, then back to the first by ``previous``;
    and the statements all of it ran."""
    with CaptureQueriesContext(connection) as queries:
        pages = [response.json() for response in walk_pages(api, path, params)]
    return pages, len(queries)


def _same_both_ways(monkeypatch, api, view, path: str, params: dict) -> list[dict]:
    assert api.get(path, params).status_code == 200  # the key looked up and cached before counting
    prepared, prepared_queries = _walk(api, path, params)
    with monkeypatch.context() as switch:
        switch.setattr(view, "prepared_pages", None)
        orm, orm_queries = _walk(api, path, params)
    assert prepared == orm
    assert prepared_queries <= orm_queries
    return prepared


def _uses_prepared(monkeypatch, view, api, path: str, params: dict) -> bool:
    seen = []
    original = view.list_source

    def spy(self, request):
        source = original(self, request)
        seen.append(isinstance(source, PageSource))
        return source

    with monkeypatch.context() as patch:
        patch.setattr(view, "list_source", spy)
        api.get(path, params)
    return seen == [True]


@pytest.fixture
def users(db):
    created = CustomerFactory.create_batch(7)
    # Three created in the same microsecond: a page boundary among them needs an offset cursor.
    moment = timezone.now() - timedelta(hours=1)
    Customer.objects.filter(pk__in=[u.pk for u in created[2:5]]).update(created_at=moment)
    Customer.objects.filter(pk=created[0].pk).update(status="DEBT_USER")
    make_plan(user=created[1], total_amount="900.00")  # something owed, for the credit figures
    return created


@pytest.mark.parametrize("limit", [None, "1", "2", "3", "200"])
def test_the_users_list_page_by_page(monkeypatch, operator_api, users, limit):
    params = {} if limit is None else {"limit": limit}
    pages = _same_both_ways(monkeypatch, operator_api, UserViewSet, "/api/v1/users/", params)
    assert {row["id"] for page in pages for row in page["results"]} == {str(u.pk) for u in users}
    assert _uses_prepared(monkeypatch, UserViewSet, operator_api, "/api/v1/users/", params)


@pytest.mark.parametrize("status", ["NORMAL", "DEBT_USER", ""])
def test_the_users_list_filtered_by_status(monkeypatch, client_api, users, status):
    pages = _same_both_ways(monkeypatch, client_api, UserViewSet, "/api/v1/users/", {"status": status, "limit": "2"})
    shown = [row for page in pages for row in page["results"]]
    assert shown and all(not status or row["status"] == status for row in shown)
    assert _uses_prepared(monkeypatch, UserViewSet, client_api, "/api/v1/users/", {"status": status})


@pytest.mark.parametrize("params", [
    {"phone_number": "+998901234567"},  # a filter with a method of its own
    {"status": "ASLEEP"},  # refused by the filter's field: the ORM's path answers the 400
    {"unknown": "1"},  # ignored by django-filter: left to it
])
def test_what_the_prepared_pages_leave_to_the_orm(monkeypatch, client_api, users, params):
    assert not _uses_prepared(monkeypatch, UserViewSet, client_api, "/api/v1/users/", params)


def test_a_refused_filter_is_the_same_400(client_api, users):
    response = client_api.get("/api/v1/users/", {"status": "ASLEEP"})
    assert response.status_code == 400
    assert [error["attr"] for error in response.json()["errors"]] == ["status"]


@pytest.fixture
def plans(db, merchant):
    other = make_plan(total_amount="50.00", installment_count=3)  # another merchant's
    owner, second = CustomerFactory.create(), CustomerFactory.create()
    mine = [make_plan(user=owner, merchant=merchant, total_amount="100.01", installment_count=n) for n in (3, 6, 12)]
    mine.append(make_plan(user=second, merchant=merchant, total_amount="70.00", installment_count=4))
    checkout = plan_create(user=second, merchant=merchant, total_amount=50000, installment_count=3,
                           awaiting_consent=True).plan
    assert checkout is not None
    Plan.objects.filter(pk__in=[mine[1].pk, mine[2].pk]).update(created_at=timezone.now() - timedelta(days=1))
    return {"other": other, "mine": [*mine, checkout], "owner": owner}


@pytest.mark.parametrize("limit", [None, "1", "2", "4"])
def test_the_plans_list_for_a_client_key(monkeypatch, client_api, plans, limit):
    params = {} if limit is None else {"limit": limit}
    pages = _same_both_ways(monkeypatch, client_api, PlanViewSet, "/api/v1/plans/", params)
    shown = {row["id"]: row for page in pages for row in page["results"]}
    assert set(shown) == {str(p.pk) for p in [plans["other"], *plans["mine"]]}
    assert [i["sequence"] for i in shown[str(plans["mine"][2].pk)]["installments"]] == list(range(1, 13))
    assert _uses_prepared(monkeypatch, PlanViewSet, client_api, "/api/v1/plans/", params)


def test_the_plans_list_when_each_session_holds_two_prepared_statements(monkeypatch, client_api, plans):
    """On PostgreSQL the page shapes and the installments of pages of 1 to 4 plans evict each other's
    server-side statements (``bnpl.prepared.ServerStatements``) on every call: the pages are the same."""
    from bnpl.prepared import ServerStatements

    monkeypatch.setattr(ServerStatements, "LIMIT", 2)
    with CaptureQueriesContext(connection) as queries:
        for limit in ("1", "2", "3", "4"):
            _same_both_ways(monkeypatch, client_api, PlanViewSet, "/api/v1/plans/", {"limit": limit})
    evictions = [q for q in queries.captured_queries if q["sql"].startswith("DEALLOCATE bnpl_")]
    assert bool(evictions) == (connection.vendor == "postgresql")


@pytest.mark.parametrize("limit", ["1", "3", "50"])
def test_the_plans_list_of_a_merchant_key_is_its_own(monkeypatch, merchant_api, plans, limit):
    pages = _same_both_ways(monkeypatch, merchant_api, PlanViewSet, "/api/v1/plans/", {"limit": limit})
    assert {row["id"] for page in pages for row in page["results"]} == {str(p.pk) for p in plans["mine"]}
    assert _uses_prepared(monkeypatch, PlanViewSet, merchant_api, "/api/v1/plans/", {"limit": limit})


@pytest.mark.parametrize("by", ["user_id", "merchant_id"])
def test_the_plans_list_filtered_by_reference(monkeypatch, client_api, merchant_api, plans, by):
    value = str(plans["owner"].pk if by == "user_id" else plans["other"].merchant_id)
    for api in (client_api, merchant_api):
        pages = _same_both_ways(monkeypatch, api, PlanViewSet, "/api/v1/plans/", {by: value, "limit": "2"})
        shown = [row for page in pages for row in page["results"]]
        assert all(row[by] == value for row in shown)
        assert _uses_prepared(monkeypatch, PlanViewSet, api, "/api/v1/plans/", {by: value})
    # A merchant key filtering by another merchant sees nothing, as through the ORM.
    if by == "merchant_id":
        assert merchant_api.get("/api/v1/plans/", {by: value}).json()["results"] == []


def test_the_plans_list_by_status_is_left_to_the_orm(monkeypatch, client_api, plans):
    assert not _uses_prepared(monkeypatch, PlanViewSet, client_api, "/api/v1/plans/", {"status": "ACTIVE"})
    _same_both_ways(monkeypatch, client_api, PlanViewSet, "/api/v1/plans/", {"status": "ACTIVE", "limit": "1"})


def test_a_page_of_plans_is_two_statements_whatever_its_size(client_api, plans, django_assert_num_queries):
    client_api.get("/api/v1/plans/")  # the key looked up and cached
    with django_assert_num_queries(2):  # the page, and the installments of its plans
        body = client_api.get("/api/v1/plans/", {"limit": "200"}).json()
    assert len(body["results"]) == 6


def test_two_filters_on_one_column_are_left_to_the_orm(client_api):
    import django_filters
    from django.http import QueryDict

    from users.models import UserStatus
    from users.selectors import USER_PAGES

    class Twice(django_filters.FilterSet):
        status = django_filters.ChoiceFilter(choices=UserStatus.choices)
        state = django_filters.ChoiceFilter(field_name="status", choices=UserStatus.choices)

        class Meta:
            model = Customer
            fields = ["status", "state"]

    def source(query: str):
        return USER_PAGES.source(QueryDict(query), api_key=client_api.api_key, filterset_class=Twice)

    assert isinstance(source("status=NORMAL"), PageSource)
    assert source("status=NORMAL&state=DEBT_USER") is None  # the ORM ANDs them: no row; one slot could not
