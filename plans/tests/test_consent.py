"""Checkout consent and credit controls (API.md §12): the state machine, the limits, the races."""
from datetime import date, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditEvent
from bnpl.dates import business_today
from bnpl.errors import InvalidState
from bnpl.models import Role
from ledger.models import JournalTransaction
from plans.models import PLAN_TRANSITIONS, Installment, Plan, PlanStatus
from plans.services import plan_confirm, plans_expire
from plans.tasks import expire_pending_plans
from plans.tests.factories import make_plan
from refunds.models import Refund
from users.models import Customer, UserStatus
from users.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/plans/"


def body(user, merchant, **extra):
    return {"user_id": str(user.pk), "merchant_id": str(merchant.pk), "total_amount": "900.00",
            "installment_count": 3, **extra}


def checkout(merchant_api, user, merchant, **extra) -> dict:
    r = merchant_api.post(URL, body(user, merchant, **extra))
    assert r.status_code == 201, r.content
    return r.json()


def expire_now(plan_id) -> None:
    """As if the checkout had been created BNPL_CHECKOUT_TTL_MINUTES ago."""
    Plan.objects.filter(pk=plan_id).update(expires_at=timezone.now() - timedelta(seconds=1))


def assert_problem(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.content
    assert r.json()["code"] == code
    return r.json()


# --- the checkout: pending, nothing owed ------------------------------------------------------------

def test_merchant_plan_is_pending_with_expiry_and_owes_nothing(merchant_api, client_api, merchant):
    user = CustomerFactory()
    before = timezone.now()
    plan = checkout(merchant_api, user, merchant)

    assert plan["status"] == "PENDING_CONFIRMATION"
    expires = datetime.fromisoformat(plan["expires_at"])
    assert before + timedelta(minutes=30) <= expires <= timezone.now() + timedelta(minutes=30)
    assert plan["installments"] == [] and plan["start_date"] is None
    assert (plan["outstanding_amount"], plan["paid_amount"]) == ("0.00", "0.00")
    # Nothing owed anywhere: no installment row, nothing in the journal, no debt, the standing untouched.
    assert not Installment.objects.filter(plan_id=plan["id"]).exists()
    assert not JournalTransaction.objects.filter(plan_id=plan["id"]).exists()
    debt = client_api.get(f"/api/v1/debt/{user.pk}/").json()
    assert (debt["outstanding_amount"], debt["overdue_amount"], debt["next_due"]) == ("0.00", "0.00", None)
    shown = client_api.get(f"/api/v1/users/{user.pk}/").json()
    assert shown["available_credit"] == shown["credit_limit"] == "10000000.00"


def test_client_plan_is_active_at_once(client_api, merchant):
    r = client_api.post(URL, body(CustomerFactory(), merchant))
    assert r.status_code == 201
    assert (r.json()["status"], r.json()["expires_at"]) == ("ACTIVE", None)
    assert len(r.json()["installments"]) == 3


def test_a_pending_backdated_merchant_plan_cannot_put_anyone_in_debt(merchant_api, operator_api, merchant):
    # The attack of the issue: a merchant key, another merchant's customer, 0.03, year 1.
    user = CustomerFactory()
    r = merchant_api.post(URL, body(user, merchant, total_amount="0.03", start_date="0001-01-01"))
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "start_date"
    plan = checkout(merchant_api, user, merchant, total_amount="0.03")
    assert plan["status"] == "PENDING_CONFIRMATION"
    assert Customer.objects.get(pk=user.pk).status == UserStatus.NORMAL
    assert operator_api.get(f"/api/v1/users/{user.pk}/").json()["status"] == "NORMAL"


def test_merchant_may_not_send_start_date(merchant_api, merchant):
    today = business_today().isoformat()
    r = merchant_api.post(URL, body(CustomerFactory(), merchant, start_date=today))
    body_ = assert_problem(r, 400, "validation_error")
    assert body_["errors"][0]["attr"] == "start_date" and body_["errors"][0]["code"] == "not_allowed"
    assert not Plan.objects.exists()


# --- confirm / decline / expire -----------------------------------------------------------------------

@override_settings(BNPL_CHECKOUT_TTL_MINUTES=60 * 24 * 30)  # still pending eleven days later
def test_confirm_makes_it_active_with_due_dates_from_the_confirmation_day(merchant_api, client_api, merchant,
                                                                         business_day):
    business_day(date(2026, 1, 20))
    user = CustomerFactory()
    plan = checkout(merchant_api, user, merchant)
    business_day(date(2026, 1, 31))  # confirmed on another business day

    r = client_api.post(f"{URL}{plan['id']}/confirm/")

    assert r.status_code == 200, r.content
    confirmed = r.json()
    assert (confirmed["status"], confirmed["start_date"]) == ("ACTIVE", "2026-01-31")
    assert [(i["due_date"], i["amount"], i["status"]) for i in confirmed["installments"]] == [
        ("2026-02-28", "300.00", "UPCOMING"), ("2026-03-31", "300.00", "UPCOMING"),
        ("2026-04-30", "300.00", "UPCOMING")]
    assert confirmed["outstanding_amount"] == "900.00"
    assert client_api.get(f"{URL}{plan['id']}/").json() == confirmed
    assert client_api.get(f"/api/v1/debt/{user.pk}/").json()["outstanding_amount"] == "900.00"
    # Owed from the confirmation: the journal has the plan now, and the history says who moved it.
    assert JournalTransaction.objects.filter(plan_id=plan["id"]).exists()
    assert list(AuditEvent.objects.filter(object_id=plan["id"]).values_list("old", "new")) == [
        ("PENDING_CONFIRMATION", "ACTIVE")]


def test_decline(merchant_api, client_api, merchant):
    plan = checkout(merchant_api, CustomerFactory(), merchant)
    r = client_api.post(f"{URL}{plan['id']}/decline/")
    assert r.status_code == 200 and r.json()["status"] == "DECLINED" and r.json()["installments"] == []
    assert not Installment.objects.exists()


@pytest.mark.parametrize("first, then", [("confirm", "confirm"), ("confirm", "decline"), ("decline", "confirm"),
                                         ("decline", "decline")])
def test_confirm_or_decline_of_a_decided_plan_is_409(merchant_api, client_api, merchant, first, then):
    plan = checkout(merchant_api, CustomerFactory(), merchant)
    assert client_api.post(f"{URL}{plan['id']}/{first}/").status_code == 200
    before = Plan.objects.values().get(pk=plan["id"])
    assert_problem(client_api.post(f"{URL}{plan['id']}/{then}/"), 409, "invalid_state")
    assert Plan.objects.values().get(pk=plan["id"]) == before


@pytest.mark.parametrize("action", ["confirm", "decline"])
def test_a_client_plan_cannot_be_confirmed_or_declined(client_api, action):
    plan = make_plan()
    assert_problem(client_api.post(f"{URL}{plan.pk}/{action}/"), 409, "invalid_state")


def test_expired_at_once_for_every_read_before_beat_runs(merchant_api, client_api, merchant):
    plan = checkout(merchant_api, CustomerFactory(), merchant)
    expire_now(plan["id"])
    assert Plan.objects.get(pk=plan["id"]).status == PlanStatus.PENDING_CONFIRMATION  # beat has not run

    assert client_api.get(f"{URL}{plan['id']}/").json()["status"] == "EXPIRED"
    assert merchant_api.get(f"{URL}{plan['id']}/").json()["status"] == "EXPIRED"
    listed = client_api.get(URL, {"status": "EXPIRED"}).json()["results"]
    assert [p["id"] for p in listed] == [plan["id"]] and listed[0]["status"] == "EXPIRED"
    assert client_api.get(URL, {"status": "PENDING_CONFIRMATION"}).json()["results"] == []
    for action in ("confirm", "decline"):
        assert_problem(client_api.post(f"{URL}{plan['id']}/{action}/"), 409, "invalid_state")
    assert not Installment.objects.exists()


def test_beat_marks_lapsed_checkouts_expired_and_leaves_the_rest(merchant_api, client_api, merchant):
    lapsed = checkout(merchant_api, CustomerFactory(), merchant)
    waiting = checkout(merchant_api, CustomerFactory(), merchant)
    confirmed = checkout(merchant_api, CustomerFactory(), merchant)
    assert client_api.post(f"{URL}{confirmed['id']}/confirm/").status_code == 200
    expire_now(lapsed["id"])

    assert expire_pending_plans.delay().get() == 1
    assert plans_expire() == 0  # twice is harmless

    statuses = dict(Plan.objects.values_list("id", "status"))
    assert {str(k): v for k, v in statuses.items()} == {
        lapsed["id"]: "EXPIRED", waiting["id"]: "PENDING_CONFIRMATION", confirmed["id"]: "ACTIVE"}


def test_transition_table_is_the_whole_machine():
    assert set(PLAN_TRANSITIONS) == set(PlanStatus.values)
    assert PLAN_TRANSITIONS[PlanStatus.PENDING_CONFIRMATION] == {PlanStatus.ACTIVE, PlanStatus.DECLINED,
                                                                 PlanStatus.EXPIRED}
    assert PLAN_TRANSITIONS[PlanStatus.DECLINED] == PLAN_TRANSITIONS[PlanStatus.EXPIRED] == frozenset()


@pytest.mark.parametrize("role, expected", [(Role.MERCHANT, 403), (Role.OPERATOR, 403), (None, 401)])
@pytest.mark.parametrize("action", ["confirm", "decline"])
def test_only_the_client_app_confirms_or_declines(make_api, anon_api, merchant_api, merchant, role, expected,
                                                  action):
    plan = checkout(merchant_api, CustomerFactory(), merchant)
    api = anon_api if role is None else (merchant_api if role == Role.MERCHANT else make_api(role))
    r = api.post(f"{URL}{plan['id']}/{action}/")
    assert r.status_code == expected
    assert Plan.objects.get(pk=plan["id"]).status == PlanStatus.PENDING_CONFIRMATION


def test_confirm_is_idempotent_with_a_key(merchant_api, client_api, merchant):
    plan = checkout(merchant_api, CustomerFactory(), merchant)
    first = client_api.post(f"{URL}{plan['id']}/confirm/", HTTP_IDEMPOTENCY_KEY="c-1")
    again = client_api.post(f"{URL}{plan['id']}/confirm/", HTTP_IDEMPOTENCY_KEY="c-1")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Installment.objects.filter(plan_id=plan["id"]).count() == 3


def test_no_refund_on_a_checkout(merchant_api, merchant):
    plan = checkout(merchant_api, CustomerFactory(), merchant)
    r = merchant_api.post("/api/v1/refunds/", {"plan_id": plan["id"], "transaction_id": "T-1", "amount": "1.00"})
    assert_problem(r, 409, "invalid_state")
    assert not Refund.objects.exists()


# --- a refused confirmation leaves the plan pending ---------------------------------------------------

def test_confirmation_refused_for_debt_leaves_it_pending(merchant_api, client_api, merchant):
    user = CustomerFactory()
    plan = checkout(merchant_api, user, merchant)
    make_plan(user=user, start_date=business_today() - timedelta(days=45))  # now overdue

    assert_problem(client_api.post(f"{URL}{plan['id']}/confirm/"), 409, "user_in_debt")

    assert Plan.objects.get(pk=plan["id"]).status == PlanStatus.PENDING_CONFIRMATION
    assert not Installment.objects.filter(plan_id=plan["id"]).exists()


def test_confirmation_refused_for_credit_names_the_available_amount(merchant_api, client_api, operator_api,
                                                                    merchant):
    user = CustomerFactory()
    assert operator_api.patch(f"/api/v1/users/{user.pk}/", {"credit_limit": "1000.00"}).status_code == 200
    make_plan(user=user, total_amount="400.00")
    plan = checkout(merchant_api, user, merchant, total_amount="600.01")

    problem = assert_problem(client_api.post(f"{URL}{plan['id']}/confirm/"), 409, "credit_limit_exceeded")

    assert "600.00" in problem["detail"]
    assert Plan.objects.get(pk=plan["id"]).status == PlanStatus.PENDING_CONFIRMATION
    # Once the customer has repaid enough, the same checkout confirms.
    assert client_api.post(f"/api/v1/debt/{user.pk}/", {"amount": "0.01"}).status_code == 201
    assert client_api.post(f"{URL}{plan['id']}/confirm/").status_code == 200


# --- limits at client creation --------------------------------------------------------------------------

@override_settings(BNPL_MAX_OPEN_PLANS=2)
def test_open_plans_cap_counts_active_and_pending_not_finished(merchant_api, client_api, merchant):
    user = CustomerFactory()
    done = make_plan(user=user, total_amount="3.00")
    assert client_api.post(f"/api/v1/debt/{user.pk}/", {"amount": "3.00"}).status_code == 201
    assert Plan.objects.get(pk=done.pk).status == PlanStatus.COMPLETED
    declined = checkout(merchant_api, user, merchant)
    client_api.post(f"{URL}{declined['id']}/decline/")
    lapsed = checkout(merchant_api, user, merchant)
    expire_now(lapsed["id"])

    active = client_api.post(URL, body(user, merchant))
    pending = checkout(merchant_api, user, merchant)
    assert active.status_code == 201 and pending["status"] == "PENDING_CONFIRMATION"

    problem = assert_problem(client_api.post(URL, body(user, merchant)), 409, "too_many_open_plans")
    assert "2" in problem["detail"]
    assert_problem(merchant_api.post(URL, body(user, merchant)), 409, "too_many_open_plans")
    # Declining one frees a slot.
    assert client_api.post(f"{URL}{pending['id']}/decline/").status_code == 200
    assert client_api.post(URL, body(user, merchant)).status_code == 201


def test_credit_limit_at_client_creation(client_api, operator_api, merchant):
    user = CustomerFactory()
    operator_api.patch(f"/api/v1/users/{user.pk}/", {"credit_limit": "1000.00"})
    assert client_api.post(URL, body(user, merchant, total_amount="700.00")).status_code == 201
    problem = assert_problem(client_api.post(URL, body(user, merchant, total_amount="300.01")), 409,
                             "credit_limit_exceeded")
    assert "300.00 UZS" in problem["detail"]
    assert client_api.post(URL, body(user, merchant, total_amount="300.00")).status_code == 201
    assert client_api.get(f"/api/v1/users/{user.pk}/").json()["available_credit"] == "0.00"


@override_settings(BNPL_DEFAULT_CREDIT_LIMIT="none")
def test_default_limit_none_means_no_limit(client_api, merchant):
    r = client_api.post("/api/v1/users/", {"full_name": "No Limit", "phone_number": "+998911112233",
                                           "passport_number": "AA7654321", "date_of_birth": "1990-01-01"})
    assert r.status_code == 201 and r.json()["credit_limit"] is None and r.json()["available_credit"] is None
    user = Customer.objects.get(pk=r.json()["id"])
    assert client_api.post(URL, body(user, merchant, total_amount="999999999999.99")).status_code == 201


@override_settings(BNPL_DEFAULT_CREDIT_LIMIT="250.00")
def test_new_users_get_the_configured_default(client_api):
    r = client_api.post("/api/v1/users/", {"full_name": "Small", "phone_number": "+998911112234",
                                           "passport_number": "AA7654322", "date_of_birth": "1990-01-01"})
    assert (r.json()["credit_limit"], r.json()["available_credit"]) == ("250.00", "250.00")


# --- back-dating (client plans) ----------------------------------------------------------------------------

@pytest.mark.parametrize("days_back, ok", [(0, True), (3, True), (4, False), (400, False)])
def test_client_start_date_at_most_three_days_back(client_api, merchant, days_back, ok):
    start = (business_today() - timedelta(days=days_back)).isoformat()
    r = client_api.post(URL, body(CustomerFactory(), merchant, start_date=start))
    if ok:
        assert r.status_code == 201 and r.json()["start_date"] == start
    else:
        problem = assert_problem(r, 400, "validation_error")
        assert problem["errors"][0]["attr"] == "start_date" and problem["errors"][0]["code"] == "too_early"


@override_settings(BNPL_MAX_BACKDATE_DAYS=10)
def test_backdate_days_come_from_the_setting(client_api, merchant):
    start = (business_today() - timedelta(days=10)).isoformat()
    assert client_api.post(URL, body(CustomerFactory(), merchant, start_date=start)).status_code == 201


# --- operator PATCH of credit_limit ----------------------------------------------------------------------

def test_operator_sets_and_removes_the_credit_limit(operator_api, client_api):
    user = CustomerFactory()
    make_plan(user=user, total_amount="400.00")
    r = operator_api.patch(f"/api/v1/users/{user.pk}/", {"credit_limit": "1000.00"})
    assert r.status_code == 200
    assert (r.json()["credit_limit"], r.json()["available_credit"]) == ("1000.00", "600.00")
    r = operator_api.patch(f"/api/v1/users/{user.pk}/", {"credit_limit": "100.00"})
    assert (r.json()["credit_limit"], r.json()["available_credit"]) == ("100.00", "0.00")  # never negative
    r = operator_api.patch(f"/api/v1/users/{user.pk}/", {"credit_limit": None})
    assert (r.json()["credit_limit"], r.json()["available_credit"]) == (None, None)
    assert client_api.get(f"/api/v1/users/{user.pk}/").json()["credit_limit"] is None


@pytest.mark.parametrize("patch, status", [
    ({"credit_limit": "1.00", "full_name": "X"}, 403), ({"phone_number": "+998911234567"}, 403),
    ({"credit_limit": "1.00", "status": "NORMAL"}, 400), ({}, 400), ({"credit_limit": "0"}, 400),
    ({"credit_limit": "-5"}, 400), ({"credit_limit": "1.001"}, 400), ({"credit_limit": "1000000000000"}, 400),
    ({"credit_limit": "١٠٠"}, 400), ({"credit_limit": True}, 400),
], ids=repr)
def test_operator_patch_is_credit_limit_alone(operator_api, patch, status):
    user = CustomerFactory()
    before = Customer.objects.values().get(pk=user.pk)
    r = operator_api.patch(f"/api/v1/users/{user.pk}/", patch)
    assert r.status_code == status, r.content
    assert r.json()["code"] == ("permission_denied" if status == 403 else "validation_error")
    assert Customer.objects.values().get(pk=user.pk) == before


def test_client_may_not_set_a_credit_limit(client_api):
    user = CustomerFactory()
    r = client_api.patch(f"/api/v1/users/{user.pk}/", {"credit_limit": None})
    assert_problem(r, 403, "permission_denied")
    assert Customer.objects.get(pk=user.pk).credit_limit == 1_000_000_000  # minor units


def test_service_confirm_raises_for_a_plan_confirmed_meanwhile(merchant_api, merchant):
    plan = Plan.objects.get(pk=checkout(merchant_api, CustomerFactory(), merchant)["id"])
    plan_confirm(plan=plan)
    with pytest.raises(InvalidState):
        plan_confirm(plan=plan)
