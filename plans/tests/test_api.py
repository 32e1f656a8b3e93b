"""Plans over HTTP (API.md §5): shape, validation, reach, and a fixed number of queries."""
from datetime import date, timedelta

import pytest
from django.db import connection

from bnpl.dates import business_today
from bnpl.models import Role
from merchants.tests.factories import MerchantFactory
from plans.models import Installment, Plan
from plans.tests.factories import make_plan, minor
from users.models import Customer, UserStatus
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.money]

URL = "/api/v1/plans/"


def body(user, merchant, **extra):
    return {"user_id": str(user.pk), "merchant_id": str(merchant.pk), "total_amount": "1000.00",
            "installment_count": 3, **extra}


def test_create_returns_the_plan_exactly_as_documented(client_api, merchant, business_day):
    business_day(date(2025, 2, 3))  # 2025-01-31 is within BNPL_MAX_BACKDATE_DAYS (3)
    user = CustomerFactory()
    r = client_api.post(URL, body(user, merchant, start_date="2025-01-31"))
    assert r.status_code == 201, r.content
    plan = r.json()
    assert set(plan) == {"id", "user_id", "merchant_id", "total_amount", "currency", "installment_count",
                         "start_date", "status", "expires_at", "paid_amount", "refunded_amount",
                         "outstanding_amount", "created_at", "installments"}
    assert plan["expires_at"] is None  # a client's plan is not a checkout
    assert plan["user_id"] == str(user.pk) and plan["merchant_id"] == str(merchant.pk)
    assert (plan["total_amount"], plan["currency"], plan["status"]) == ("1000.00", "UZS", "ACTIVE")
    assert (plan["paid_amount"], plan["refunded_amount"], plan["outstanding_amount"]) == ("0.00", "0.00", "1000.00")
    assert plan["installment_count"] == 3 and plan["start_date"] == "2025-01-31"
    first = plan["installments"][0]
    assert set(first) == {"id", "sequence", "due_date", "amount", "paid_amount", "refunded_amount",
                          "outstanding_amount", "status", "paid_at",
                          "fee_amount", "fee_paid_amount", "fee_waived_amount",  # API.md §13: late fees
                          # API.md §13: the delinquency record
                          "overdue_since", "days_past_due", "max_days_past_due", "extended_days"}
    assert [(i["sequence"], i["due_date"], i["amount"], i["outstanding_amount"]) for i in plan["installments"]] == [
        (1, "2025-02-28", "333.33", "333.33"), (2, "2025-03-31", "333.33", "333.33"),
        (3, "2025-04-30", "333.34", "333.34")]
    assert first["paid_at"] is None
    assert (first["overdue_since"], first["days_past_due"], first["max_days_past_due"], first["extended_days"]) == (
        None, 0, 0, 0)
    assert client_api.get(f"{URL}{plan['id']}/").json() == plan


def test_start_date_defaults_to_business_today(client_api, merchant):
    r = client_api.post(URL, body(CustomerFactory(), merchant, total_amount=100))
    assert r.status_code == 201, r.content
    assert r.json()["start_date"] == business_today().isoformat()
    assert r.json()["total_amount"] == "100.00"


@pytest.mark.parametrize("change, attr", [
    ({"total_amount": "0.02"}, "total_amount"),          # 3 installments need 0.03
    ({"total_amount": "0.11", "installment_count": 12}, "total_amount"),
    ({"total_amount": "0"}, "total_amount"),
    ({"total_amount": "10.001"}, "total_amount"),
    ({"total_amount": 10.5}, None),                      # a JSON number is fine (parsed as Decimal)
    ({"total_amount": "1000000000000"}, "total_amount"),
    ({"installment_count": 2}, "installment_count"),
    ({"installment_count": 13}, "installment_count"),
    ({"installment_count": "x"}, "installment_count"),
    ({"start_date": "2099-01-01"}, "start_date"),
    ({"start_date": "31-01-2025"}, "start_date"),
    ({"user_id": "not-a-uuid"}, "user_id"),
    ({"user_id": "00000000-0000-0000-0000-000000000001"}, "user_id"),
    ({"merchant_id": "00000000-0000-0000-0000-000000000001"}, "merchant_id"),
])
def test_create_validation(client_api, merchant, change, attr):
    r = client_api.post(URL, {**body(CustomerFactory(), merchant), **change})
    if attr is None:
        assert r.status_code == 201, r.content
        return
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "validation_error"
    assert attr in {e["attr"] for e in r.json()["errors"]}
    assert Plan.objects.count() == 0


def test_tomorrow_is_the_future(client_api, merchant):
    tomorrow = business_today() + timedelta(days=1)
    r = client_api.post(URL, body(CustomerFactory(), merchant, start_date=tomorrow.isoformat()))
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "start_date"


@pytest.mark.parametrize("missing", ["user_id", "merchant_id", "total_amount", "installment_count"])
def test_required_fields(client_api, merchant, missing):
    data = body(CustomerFactory(), merchant)
    del data[missing]
    r = client_api.post(URL, data)
    assert r.status_code == 400 and missing in {e["attr"] for e in r.json()["errors"]}


def test_merchant_creates_for_itself_only(merchant_api, merchant):
    user = CustomerFactory()
    assert merchant_api.post(URL, body(user, merchant)).status_code == 201
    other = MerchantFactory()
    r = merchant_api.post(URL, body(user, other))
    # Same answer as a merchant that does not exist: nothing revealed.
    assert r.status_code == 400 and r.json()["errors"][0] == {
        "attr": "merchant_id", "code": "does_not_exist", "detail": "No such object."}
    assert not Plan.objects.filter(merchant=other).exists()


def test_user_in_debt_is_refused(client_api, merchant):
    user = CustomerFactory()
    make_plan(user=user, start_date=business_today() - timedelta(days=45))
    user.refresh_from_db()
    assert user.status == UserStatus.DEBT_USER
    r = client_api.post(URL, body(user, merchant))
    assert r.status_code == 409 and r.json()["code"] == "user_in_debt"
    assert Plan.objects.filter(user=user).count() == 1


def test_unswept_past_due_installment_refuses_and_marks_user(client_api, merchant):
    user = CustomerFactory()
    plan = make_plan(user=user, merchant=merchant, start_date=business_today() - timedelta(days=10))
    # As if the installment had been created long ago and no sweep had run since.
    Installment.objects.filter(plan=plan, sequence=1).update(due_date=business_today() - timedelta(days=1))
    r = client_api.post(URL, body(user, merchant))
    assert r.status_code == 409 and r.json()["code"] == "user_in_debt"
    user.refresh_from_db()
    assert user.status == UserStatus.DEBT_USER
    assert Installment.objects.get(plan=plan, sequence=1).status == "OVERDUE"


def test_a_refusal_under_an_idempotency_key_keeps_the_marking_and_replays(client_api, merchant):
    """The refusal is a value the view returns (not an exception that rolls back), so the
    DEBT_USER marking commits with the stored 409, with no special case in the idempotency code."""
    user = CustomerFactory()
    plan = make_plan(user=user, merchant=merchant, start_date=business_today() - timedelta(days=10))
    Installment.objects.filter(plan=plan, sequence=1).update(due_date=business_today() - timedelta(days=1))
    first = client_api.post(URL, body(user, merchant), HTTP_IDEMPOTENCY_KEY="refused-plan-1")
    assert first.status_code == 409 and first.json()["code"] == "user_in_debt"
    assert Customer.objects.get(pk=user.pk).status == UserStatus.DEBT_USER
    assert Installment.objects.get(plan=plan, sequence=1).status == "OVERDUE"
    again = client_api.post(URL, body(user, merchant), HTTP_IDEMPOTENCY_KEY="refused-plan-1")
    assert again.status_code == 409 and again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Plan.objects.filter(user=user).count() == 1


def test_backdated_plan_with_past_due_installment_is_created_and_marks_the_user(client_api, merchant):
    # v1.1: the API bounds back-dating (BNPL_MAX_BACKDATE_DAYS, below), so only a historical plan
    # (demo data, scenarios) can start this far back; the same rule marks it at creation.
    user = CustomerFactory()
    start = business_today() - timedelta(days=70)
    plan = make_plan(user=user, merchant=merchant, start_date=start)
    r = client_api.get(f"{URL}{plan.pk}/")
    statuses = [i["status"] for i in r.json()["installments"]]
    assert statuses[0] == "OVERDUE" and statuses[2] == "UPCOMING"
    user.refresh_from_db()
    assert user.status == UserStatus.DEBT_USER


def test_idempotent_create(client_api, merchant):
    data = body(CustomerFactory(), merchant)
    r1 = client_api.post(URL, data, HTTP_IDEMPOTENCY_KEY="plan-1")
    r2 = client_api.post(URL, data, HTTP_IDEMPOTENCY_KEY="plan-1")
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json() and r2["Idempotent-Replayed"] == "true"
    assert Plan.objects.count() == 1


def test_list_filters(client_api, merchant):
    alice, bob = CustomerFactory(), CustomerFactory()
    other = MerchantFactory()
    p1 = make_plan(user=alice, merchant=merchant)
    p2 = make_plan(user=bob, merchant=other)
    p3 = make_plan(user=alice, merchant=other, total_amount="3.00")
    Installment.objects.filter(plan=p3).update(paid_amount=minor("1.00"), status="PAID")
    Plan.objects.filter(pk=p3.pk).update(paid_amount=minor("3.00"), status="COMPLETED")

    def ids(query):
        r = client_api.get(URL + query)
        assert r.status_code == 200, r.content
        return {p["id"] for p in r.json()["results"]}

    assert ids("") == {str(p1.pk), str(p2.pk), str(p3.pk)}
    assert ids(f"?user_id={alice.pk}") == {str(p1.pk), str(p3.pk)}
    assert ids(f"?merchant_id={other.pk}") == {str(p2.pk), str(p3.pk)}
    assert ids("?status=COMPLETED") == {str(p3.pk)}
    assert ids(f"?status=ACTIVE&user_id={alice.pk}") == {str(p1.pk)}
    assert client_api.get(URL + "?status=NOPE").status_code == 400
    assert client_api.get(URL + "?user_id=nope").status_code == 400


def test_list_is_newest_first_and_paginated(client_api, merchant):
    plans = [make_plan(merchant=merchant) for _ in range(3)]
    r = client_api.get(URL + "?limit=2")
    assert [p["id"] for p in r.json()["results"]] == [str(plans[2].pk), str(plans[1].pk)]
    r2 = client_api.get(r.json()["next"])
    assert [p["id"] for p in r2.json()["results"]] == [str(plans[0].pk)] and r2.json()["next"] is None


def test_merchant_sees_only_its_own_plans(merchant_api, merchant):
    mine = make_plan(merchant=merchant)
    theirs = make_plan()
    r = merchant_api.get(URL)
    assert [p["id"] for p in r.json()["results"]] == [str(mine.pk)]
    assert merchant_api.get(f"{URL}?merchant_id={theirs.merchant_id}").json()["results"] == []
    assert merchant_api.get(f"{URL}{mine.pk}/").status_code == 200
    r = merchant_api.get(f"{URL}{theirs.pk}/")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_unknown_and_malformed_plan_ids_are_404(client_api):
    assert client_api.get(f"{URL}00000000-0000-0000-0000-000000000001/").status_code == 404
    assert client_api.get(f"{URL}nope/").status_code == 404


# --- Roles (API.md §1): every role/endpoint pair ------------------------------------

ROLE_CASES = [
    # role, method, path kind, expected
    (Role.CLIENT, "post", "list", 201),
    (Role.MERCHANT, "post", "list", 201),
    (Role.OPERATOR, "post", "list", 403),
    (Role.CLIENT, "get", "list", 200),
    (Role.MERCHANT, "get", "list", 200),
    (Role.OPERATOR, "get", "list", 200),
    (Role.CLIENT, "get", "detail", 200),
    (Role.MERCHANT, "get", "detail", 200),
    (Role.OPERATOR, "get", "detail", 200),
    (None, "get", "list", 401),
    (None, "get", "detail", 401),
    (None, "post", "list", 401),
]


@pytest.mark.parametrize("role, method, kind, expected", ROLE_CASES)
def test_roles(make_api, anon_api, merchant, role, method, kind, expected):
    api = anon_api if role is None else make_api(role, merchant=merchant if role == Role.MERCHANT else None)
    plan = make_plan(merchant=merchant)
    path = URL if kind == "list" else f"{URL}{plan.pk}/"
    r = api.post(path, body(CustomerFactory(), merchant)) if method == "post" else api.get(path)
    assert r.status_code == expected, r.content
    if expected == 403:
        assert r.json()["code"] == "permission_denied"
        assert Plan.objects.count() == 1


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_plans_are_not_editable(client_api, method):
    plan = make_plan()
    r = getattr(client_api, method)(f"{URL}{plan.pk}/")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"  # contract_decisions.md


# --- Query counts --------------------------------------------------------------------
# The test transaction turns plan_create's atomic block into SAVEPOINT + RELEASE: 2 of the counted queries.
# v1.1: +1 for the limits (open plans and outstanding, one statement). It must be its own statement after
# the user's lock: a subquery inside the locking SELECT would read the snapshot taken before the lock wait
# (READ COMMITTED) and miss a plan a racing creation just committed.

@pytest.mark.parametrize("count", [3, 12])
def test_create_uses_a_fixed_number_of_queries(client_api, merchant, django_assert_max_num_queries, count):
    data = body(CustomerFactory(), merchant, installment_count=count)
    # 10, +1 for the limits, one statement for the journal (plan_opened and its entries, API.md §11),
    # and two for the plan.created event (the outbox, API.md §14): its installments read for the
    # plan as the API shows it, and its INSERT, whatever the count.
    # The journal posting is one statement on PostgreSQL and two INSERTs on SQLite (no INSERT ... RETURNING CTE).
    with django_assert_max_num_queries(10 + 1 + journal_statements() + 2):
        r = client_api.post(URL, data)
    assert r.status_code == 201 and len(r.json()["installments"]) == count


@pytest.mark.parametrize("count", [3, 12])
def test_backdated_create_uses_a_fixed_number_of_queries(client_api, merchant, django_assert_max_num_queries,
                                                         count, business_day):
    business_day(date(2024, 2, 2))
    data = body(CustomerFactory(), merchant, installment_count=count, start_date="2024-01-31")
    # 14, +1 for the limits, one statement for the journal (API.md §11), one INSERT of the overdue
    # marks' history, and 4 for the outbox (API.md §14), whatever the count: the marked installments
    # read and one INSERT of their installment.overdue events, one INSERT each of user.status_changed
    # and plan.created.
    with django_assert_max_num_queries(14 + 1 + 2 + 4):
        r = client_api.post(URL, data)
    assert r.status_code == 201 and len(r.json()["installments"]) == count


@pytest.mark.parametrize("plans", [1, 20])
def test_list_uses_a_fixed_number_of_queries(client_api, merchant, django_assert_max_num_queries, plans):
    for _ in range(plans):
        make_plan(merchant=merchant, installment_count=12)
    with django_assert_max_num_queries(3):
        r = client_api.get(URL + "?limit=20")
    assert len(r.json()["results"]) == plans


@pytest.mark.parametrize("count", [3, 12])
def test_detail_uses_a_fixed_number_of_queries(client_api, django_assert_max_num_queries, count):
    plan = make_plan(installment_count=count)
    with django_assert_max_num_queries(3):
        r = client_api.get(f"{URL}{plan.pk}/")
    assert len(r.json()["installments"]) == count


def test_start_date_in_a_leap_year_clamps(client_api, merchant, business_day):
    business_day(date(2024, 2, 1))
    r = client_api.post(URL, body(CustomerFactory(), merchant, start_date=date(2024, 1, 31).isoformat()))
    assert [i["due_date"] for i in r.json()["installments"]] == ["2024-02-29", "2024-03-31", "2024-04-30"]


def journal_statements() -> int:
    """Statements one journal posting takes: a single CTE on PostgreSQL, two INSERTs on SQLite."""
    return 1 if connection.vendor == "postgresql" else 2
