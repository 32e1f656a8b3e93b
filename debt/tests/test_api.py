"""Debt and repayments over HTTP (API.md §6)."""
from datetime import date, timedelta

import pytest
from django.db import connection

from bnpl.dates import business_today
from bnpl.models import Role
from debt.models import Repayment, RepaymentAllocation
from debt.tests.factories import user_with_two_plans
from plans.models import Installment, InstallmentStatus
from plans.tests.factories import make_plan, minor
from users.models import Customer, UserStatus
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.money]

UNKNOWN = "00000000-0000-0000-0000-000000000001"
NO_AGING = [{"bucket": bucket, "amount": "0.00", "installments": 0} for bucket in ("1-30", "31-60", "61-90", "91+")]


def debt_url(user_id) -> str:
    return f"/api/v1/debt/{user_id}/"


@pytest.fixture
def indebted(business_day):
    """A1 (due 28 Feb, 333.33) and B1 (due 10 Mar, 200.00) are overdue, A2 (31 Mar) is next."""
    return user_with_two_plans(business_day)


def inst(plan, sequence) -> Installment:
    return Installment.objects.get(plan=plan, sequence=sequence)


def test_debt_view_computes_overdue_live(client_api, indebted):
    user, plan_a, plan_b = indebted
    # No sweep has run: the stored statuses still say UPCOMING/NORMAL.
    assert user.status == UserStatus.NORMAL and inst(plan_a, 1).status == InstallmentStatus.UPCOMING
    r = client_api.get(debt_url(user.pk))
    assert r.status_code == 200, r.content
    assert r.json() == {
        "user_id": str(user.pk), "status": "DEBT_USER", "has_overdue": True, "currency": "UZS",
        "overdue_amount": "533.33", "outstanding_amount": "1600.00", "fees_outstanding": "0.00",  # API.md §13
        "overdue_installments": [
            {"id": str(inst(plan_a, 1).pk), "plan_id": str(plan_a.pk), "sequence": 1, "due_date": "2025-02-28",
             "days_overdue": 15, "outstanding_amount": "333.33"},
            {"id": str(inst(plan_b, 1).pk), "plan_id": str(plan_b.pk), "sequence": 1, "due_date": "2025-03-10",
             "days_overdue": 5, "outstanding_amount": "200.00"},
        ],
        "next_due": {"installment_id": str(inst(plan_a, 2).pk), "due_date": "2025-03-31", "amount": "333.33"},
        "aging": [{"bucket": "1-30", "amount": "533.33", "installments": 2}, *NO_AGING[1:]],
        "paused_plans": [],
    }


def test_debt_view_of_a_user_with_nothing(client_api):
    user = CustomerFactory()
    body = client_api.get(debt_url(user.pk)).json()
    # In API.md §6's order (a dict comparison alone would not see the keys move).
    assert list(body)[:4] == ["user_id", "status", "has_overdue", "currency"]
    assert body == {
        "user_id": str(user.pk), "status": "NORMAL", "has_overdue": False, "currency": "UZS",
        "overdue_amount": "0.00", "outstanding_amount": "0.00", "fees_outstanding": "0.00",  # API.md §13
        "overdue_installments": [], "next_due": None, "aging": NO_AGING, "paused_plans": []}


def test_next_due_is_the_remaining_part(client_api, indebted):
    user, plan_a, _ = indebted
    r = client_api.post(debt_url(user.pk), {"amount": "633.33"})  # A1, B1, then 100.00 of A2
    assert r.status_code == 201, r.content
    debt = client_api.get(debt_url(user.pk)).json()
    assert debt["next_due"] == {"installment_id": str(inst(plan_a, 2).pk), "due_date": "2025-03-31",
                                "amount": "233.33"}
    assert (debt["status"], debt["has_overdue"], debt["overdue_amount"]) == ("NORMAL", False, "0.00")


def test_repay_by_ids_returns_the_documented_body(client_api, indebted):
    user, plan_a, plan_b = indebted
    a1, b1 = inst(plan_a, 1), inst(plan_b, 1)
    r = client_api.post(debt_url(user.pk), {"installment_ids": [str(b1.pk), str(a1.pk)]})
    assert r.status_code == 201, r.content
    body = r.json()
    assert set(body) == {"id", "user_id", "amount", "currency", "allocations", "user_status", "overdue_amount",
                         "outstanding_amount", "reversed_at", "created_at"}  # reversed_at: API.md §6 v1.1
    assert body["reversed_at"] is None
    assert (body["user_id"], body["amount"], body["currency"]) == (str(user.pk), "533.33", "UZS")
    assert body["allocations"] == [
        {"installment_id": str(b1.pk), "plan_id": str(plan_b.pk), "amount": "200.00"},
        {"installment_id": str(a1.pk), "plan_id": str(plan_a.pk), "amount": "333.33"}]
    assert (body["user_status"], body["overdue_amount"], body["outstanding_amount"]) == ("NORMAL", "0.00", "1066.67")
    a1.refresh_from_db()
    assert a1.status == InstallmentStatus.PAID and a1.paid_at is not None and a1.paid_amount == minor("333.33")
    assert Customer.objects.get(pk=user.pk).status == UserStatus.NORMAL
    assert Repayment.objects.get().created_by_id == client_api.api_key.pk


@pytest.mark.parametrize("payload, attr", [
    ({}, "non_field_errors"),
    ({"amount": "10.00", "installment_ids": []}, "installment_ids"),
    ({"installment_ids": []}, "installment_ids"),
    ({"installment_ids": "x"}, "installment_ids"),
    ({"installment_ids": ["nope"]}, "installment_ids"),
    ({"installment_ids": [UNKNOWN]}, "installment_ids"),
    ({"amount": "0"}, "amount"),
    ({"amount": "-1"}, "amount"),
    ({"amount": "1.001"}, "amount"),
    ({"amount": "1600.01"}, "amount"),
    ({"amount": 1e3}, "amount"),  # json.dumps writes 1000.0: fine, it is parsed as Decimal
])
def test_repay_validation(client_api, indebted, payload, attr):
    user = indebted[0]
    r = client_api.post(debt_url(user.pk), payload)
    if payload == {"amount": 1e3}:
        assert r.status_code == 201 and r.json()["amount"] == "1000.00"
        return
    assert r.status_code == 400, r.content
    assert attr in {e["attr"].split(".")[0] for e in r.json()["errors"]}
    assert not Repayment.objects.exists()


def test_both_keys_are_refused(client_api, indebted):
    user, plan_a, _ = indebted
    r = client_api.post(debt_url(user.pk), {"amount": "10.00", "installment_ids": [str(inst(plan_a, 1).pk)]})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "non_field_errors"


def test_duplicate_ids_are_refused(client_api, indebted):
    user, plan_a, _ = indebted
    a1 = str(inst(plan_a, 1).pk)
    r = client_api.post(debt_url(user.pk), {"installment_ids": [a1, a1]})
    assert r.status_code == 400 and r.json()["errors"][0] == {
        "attr": "installment_ids", "code": "duplicate", "detail": "Each id may appear once."}


def test_someone_elses_installment_is_a_400_and_nothing_is_paid(client_api, indebted):
    user, plan_a, _ = indebted
    other = make_plan(start_date=date(2025, 3, 1))
    r = client_api.post(debt_url(user.pk), {"installment_ids": [str(inst(plan_a, 1).pk), str(inst(other, 1).pk)]})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "installment_ids"
    assert inst(plan_a, 1).paid_amount == 0 and inst(other, 1).paid_amount == 0


def test_settled_installment_is_409_and_all_or_nothing(client_api, indebted):
    user, plan_a, plan_b = indebted
    assert client_api.post(debt_url(user.pk), {"installment_ids": [str(inst(plan_a, 1).pk)]}).status_code == 201
    r = client_api.post(debt_url(user.pk), {"installment_ids": [str(inst(plan_b, 1).pk), str(inst(plan_a, 1).pk)]})
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    assert inst(plan_b, 1).paid_amount == 0 and Repayment.objects.count() == 1


def test_nothing_owed_means_any_amount_is_too_much(client_api):
    user = CustomerFactory()
    r = client_api.post(debt_url(user.pk), {"amount": "0.01"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "exceeds_outstanding"


@pytest.mark.parametrize("path", ["", "repayments/"])
@pytest.mark.parametrize("user_id", [UNKNOWN, "nope"])
def test_unknown_user_is_404(client_api, user_id, path):
    r = client_api.get(debt_url(user_id) + path)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    if not path:
        assert client_api.post(debt_url(user_id), {"amount": "1.00"}).status_code == 404


def test_idempotent_repayment(client_api, indebted):
    user = indebted[0]
    r1 = client_api.post(debt_url(user.pk), {"amount": "100.00"}, HTTP_IDEMPOTENCY_KEY="repay-1")
    r2 = client_api.post(debt_url(user.pk), {"amount": "100.00"}, HTTP_IDEMPOTENCY_KEY="repay-1")
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert r2["Idempotent-Replayed"] == "true" and Repayment.objects.count() == 1
    r3 = client_api.post(debt_url(user.pk), {"amount": "100.01"}, HTTP_IDEMPOTENCY_KEY="repay-1")
    assert r3.status_code == 422


def test_repayments_are_listed_newest_first_with_allocations(client_api, operator_api, indebted):
    user, plan_a, plan_b = indebted
    first = client_api.post(debt_url(user.pk), {"amount": "400.00"}).json()
    second = client_api.post(debt_url(user.pk), {"installment_ids": [str(inst(plan_a, 3).pk)]}).json()
    CustomerFactory()  # someone else's nothing
    for api in (client_api, operator_api):
        r = api.get(debt_url(user.pk) + "repayments/")
        assert r.status_code == 200
        results = r.json()["results"]
        assert [x["id"] for x in results] == [second["id"], first["id"]]
        keys = ("id", "user_id", "amount", "currency", "allocations", "created_at")
        assert set(results[1]) == {*keys, "reversed_at"} and results[1]["reversed_at"] is None  # API.md §6 v1.1
        assert {key: results[1][key] for key in keys} == {key: first[key] for key in keys}
        assert results[1]["allocations"] == [
            {"installment_id": str(inst(plan_a, 1).pk), "plan_id": str(plan_a.pk), "amount": "333.33"},
            {"installment_id": str(inst(plan_b, 1).pk), "plan_id": str(plan_b.pk), "amount": "66.67"}]
    page = client_api.get(debt_url(user.pk) + "repayments/?limit=1").json()
    assert len(page["results"]) == 1 and page["next"]


# --- Roles (API.md §1) -------------------------------------------------------------------

@pytest.mark.parametrize("role, method, path, expected", [
    (Role.CLIENT, "get", "", 200),
    (Role.OPERATOR, "get", "", 200),
    (Role.MERCHANT, "get", "", 403),
    (None, "get", "", 401),
    (Role.CLIENT, "post", "", 201),
    (Role.OPERATOR, "post", "", 403),
    (Role.MERCHANT, "post", "", 403),
    (None, "post", "", 401),
    (Role.CLIENT, "get", "repayments/", 200),
    (Role.OPERATOR, "get", "repayments/", 200),
    (Role.MERCHANT, "get", "repayments/", 403),
    (None, "get", "repayments/", 401),
])
def test_roles(make_api, anon_api, merchant, role, method, path, expected):
    api = anon_api if role is None else make_api(role, merchant=merchant if role == Role.MERCHANT else None)
    user = CustomerFactory()
    make_plan(user=user, merchant=merchant)
    url = debt_url(user.pk) + path
    r = api.post(url, {"amount": "1.00"}) if method == "post" else api.get(url)
    assert r.status_code == expected, r.content
    if expected >= 400:
        assert r.json()["code"] == {401: "not_authenticated", 403: "permission_denied"}[expected]
        assert not Repayment.objects.exists()


@pytest.mark.parametrize("role", [Role.MERCHANT, Role.OPERATOR])
def test_forbidden_roles_get_403_even_for_an_unknown_user(make_api, merchant, role):
    api = make_api(role, merchant=merchant if role == Role.MERCHANT else None)
    assert api.post(debt_url(UNKNOWN), {"amount": "1.00"}).status_code == 403


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_debt_is_not_editable(client_api, method):
    user = CustomerFactory()
    r = getattr(client_api, method)(debt_url(user.pk))
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"  # contract_decisions.md
    assert Customer.objects.filter(pk=user.pk).exists()


# --- Query counts -------------------------------------------------------------------------

@pytest.mark.parametrize("plans", [1, 5])
def test_debt_view_uses_a_fixed_number_of_queries(client_api, django_assert_max_num_queries, plans):
    user = CustomerFactory()
    for _ in range(plans):
        make_plan(user=user, installment_count=12, start_date=business_today() - timedelta(days=20))
    with django_assert_max_num_queries(3):
        r = client_api.get(debt_url(user.pk))
    assert r.json()["outstanding_amount"] == f"{1000 * plans}.00"


@pytest.mark.parametrize("plans", [1, 5])
def test_repayment_uses_a_fixed_number_of_queries(client_api, django_assert_max_num_queries, plans):
    user = CustomerFactory()
    for _ in range(plans):
        make_plan(user=user, installment_count=12)
    # 2 of these are the SAVEPOINT/RELEASE of the service's atomic block inside the test transaction.
    # +5 for the outbox (API.md §14), whatever the number of plans: one INSERT of the installment.paid
    # events, the completed plans and their installments read and one INSERT of their plan.completed
    # events, one INSERT of repayment.created.
    # The journal posting is one statement on PostgreSQL and two INSERTs on SQLite.
    with django_assert_max_num_queries(16 + 4 + journal_statements()):
        r = client_api.post(debt_url(user.pk), {"amount": f"{1000 * plans}.00"})
    assert r.status_code == 201 and len(r.json()["allocations"]) == 12 * plans
    assert RepaymentAllocation.objects.count() == 12 * plans


@pytest.mark.parametrize("repayments", [1, 10])
def test_repayment_list_uses_a_fixed_number_of_queries(client_api, django_assert_max_num_queries, repayments):
    user = CustomerFactory()
    make_plan(user=user, total_amount="1000.00")
    for _ in range(repayments):
        client_api.post(debt_url(user.pk), {"amount": "10.00"})
    with django_assert_max_num_queries(4):
        r = client_api.get(debt_url(user.pk) + "repayments/")
    assert len(r.json()["results"]) == repayments


def journal_statements() -> int:
    """Statements one journal posting takes: a single CTE on PostgreSQL, two INSERTs on SQLite."""
    return 1 if connection.vendor == "postgresql" else 2
