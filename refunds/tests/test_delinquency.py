"""Issue 12 / API.md §13: returns pause collection, the refund allocation policy and the
delinquency record, with the frozen clock (``business_day``), on PostgreSQL and SQLite (``money``).

The plan in every scenario: 900.00 in 3 from 31 Jan 2025, installments of 300.00 due 28 Feb,
31 Mar and 30 Apr. On 5 Mar installment 1 is 5 days past due.
"""
from datetime import date

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from audit.models import AuditEvent
from bnpl.apps import check_business_settings
from debt.selectors import debt_summary
from debt.services import repayment_apply, sweep_overdue
from plans.models import Installment
from plans.overdue import days_past_due, max_days_past_due
from plans.services import plan_create
from plans.tests.factories import make_plan, minor
from refunds.models import RefundStatus
from refunds.services import refund_approve, refund_cancel, refund_reject
from refunds.tests.factories import make_refund
from users.models import Customer, UserStatus
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.money]

START = date(2025, 1, 31)
PAST_DUE = date(2025, 3, 5)  # installment 1 (due 28 Feb) is 5 days past due
PAUSE_END = date(2025, 4, 4)  # a refund opened on 5 Mar pauses until 4 Apr (BNPL_RETURN_PAUSE_DAYS = 30)
D = minor


def statuses(plan) -> list[str]:
    return list(Installment.objects.filter(plan=plan).order_by("sequence").values_list("status", flat=True))


def user_status(plan) -> str:
    return Customer.objects.get(pk=plan.user_id).status


def can_open_a_plan(plan) -> bool:
    created = plan_create(user=Customer.objects.get(pk=plan.user_id), merchant=plan.merchant,
                          total_amount=D("30.00"), installment_count=3)
    return created.plan is not None


@pytest.fixture
def overdue_plan(business_day):
    """The 900/3 plan on 5 Mar, swept: installment 1 OVERDUE since 5 Mar, the customer DEBT_USER."""
    business_day(START)
    plan = make_plan(total_amount="900.00", start_date=START)
    business_day(PAST_DUE)
    sweep_overdue()
    assert statuses(plan) == ["OVERDUE", "UPCOMING", "UPCOMING"] and user_status(plan) == UserStatus.DEBT_USER
    return plan


# --- Returns pause collection -----------------------------------------------------------------


def test_a_pending_refund_pauses_collection_at_once_everywhere_the_rule_applies(overdue_plan):
    plan = overdue_plan
    make_refund(plan=plan, amount="100.00")

    # The live check ran with the refund: made overdue only by the pause, installment 1 is back.
    assert statuses(plan) == ["UPCOMING", "UPCOMING", "UPCOMING"]
    assert user_status(plan) == UserStatus.NORMAL
    # The debt read, the sweep and the plan-creation check all respect it.
    summary = debt_summary(user_id=plan.user_id)
    assert summary.status == UserStatus.NORMAL and summary.overdue == [] and summary.overdue_amount == 0
    assert [(p.plan_id, p.until) for p in summary.paused_plans] == [(plan.pk, PAUSE_END)]
    assert sweep_overdue()["installments_marked_overdue"] == 0
    assert statuses(plan)[0] == "UPCOMING" and user_status(plan) == UserStatus.NORMAL
    assert can_open_a_plan(plan)
    # The record keeps the spell that was: overdue since 5 Mar, 5 days; no days past due while paused.
    first = Installment.objects.get(plan=plan, sequence=1)
    assert (first.overdue_since, first.max_days_past_due, days_past_due(first)) == (PAST_DUE, 5, 0)
    audit = AuditEvent.objects.filter(object_id=first.pk, field="status").order_by("id")
    assert [(a.old, a.new) for a in audit][-1] == ("OVERDUE", "UPCOMING")


def test_the_sweep_never_marks_a_paused_installment(business_day):
    business_day(START)
    plan = make_plan(total_amount="900.00", start_date=START)
    business_day(date(2025, 2, 20))
    make_refund(plan=plan, amount="100.00")  # opened before installment 1 is due: pause until 22 Mar
    business_day(date(2025, 3, 21))
    assert sweep_overdue()["installments_marked_overdue"] == 0
    assert statuses(plan) == ["UPCOMING", "UPCOMING", "UPCOMING"] and user_status(plan) == UserStatus.NORMAL
    assert debt_summary(user_id=plan.user_id).status == UserStatus.NORMAL
    assert can_open_a_plan(plan)


@pytest.mark.parametrize("decide", [refund_reject, refund_cancel], ids=["rejected", "cancelled"])
def test_the_pause_ends_when_the_refund_is_rejected_or_cancelled(overdue_plan, decide):
    plan = overdue_plan
    refund = make_refund(plan=plan, amount="100.00")
    assert user_status(plan) == UserStatus.NORMAL

    decide(refund=refund, decided_by="test")

    # At once, not at the next sweep: the decision ran the live check.
    assert statuses(plan) == ["OVERDUE", "UPCOMING", "UPCOMING"] and user_status(plan) == UserStatus.DEBT_USER
    assert debt_summary(user_id=plan.user_id).paused_plans == []
    first = Installment.objects.get(plan=plan, sequence=1)
    assert first.overdue_since == PAST_DUE  # the first day it was overdue, kept across the pause
    assert not can_open_a_plan(plan)


def test_the_pause_ends_when_the_refund_is_approved(overdue_plan):
    plan = overdue_plan
    refund = make_refund(plan=plan, amount="100.00")

    refund = refund_approve(refund=refund, decided_by="test")

    # last_first: the 100.00 goes to installment 3; installment 1 is overdue again, at once.
    assert refund.status == RefundStatus.APPROVED
    assert statuses(plan) == ["OVERDUE", "UPCOMING", "UPCOMING"] and user_status(plan) == UserStatus.DEBT_USER
    assert debt_summary(user_id=plan.user_id).paused_plans == []


def test_another_pending_refund_keeps_the_pause_after_one_is_decided(overdue_plan, business_day):
    plan = overdue_plan
    first = make_refund(plan=plan, amount="100.00")
    business_day(date(2025, 3, 10))
    make_refund(plan=plan, amount="50.00")  # the latest pending refund sets the end: 9 Apr
    refund_reject(refund=first, decided_by="test")
    assert user_status(plan) == UserStatus.NORMAL
    assert [(p.plan_id, p.until) for p in debt_summary(user_id=plan.user_id).paused_plans] == [
        (plan.pk, date(2025, 4, 9))]


def test_the_pause_expires_after_return_pause_days_with_the_refund_still_pending(overdue_plan, business_day):
    plan = overdue_plan
    refund = make_refund(plan=plan, amount="100.00")

    business_day(date(2025, 4, 3))  # the last paused day: installments 1 and 2 are past due, still paused
    assert sweep_overdue()["installments_marked_overdue"] == 0
    assert debt_summary(user_id=plan.user_id).status == UserStatus.NORMAL
    assert user_status(plan) == UserStatus.NORMAL

    business_day(PAUSE_END)
    # The debt read follows the rule at once; the plan-creation check marks the user; the sweep the rest.
    summary = debt_summary(user_id=plan.user_id)
    assert summary.status == UserStatus.DEBT_USER and summary.paused_plans == []
    assert [o.installment.sequence for o in summary.overdue] == [1, 2]
    assert not can_open_a_plan(plan)
    assert user_status(plan) == UserStatus.DEBT_USER
    assert statuses(plan) == ["OVERDUE", "OVERDUE", "UPCOMING"]
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PENDING  # the refund is still undecided; only the pause ended
    second = Installment.objects.get(plan=plan, sequence=2)
    assert second.overdue_since == PAUSE_END  # the first business day it was overdue
    assert days_past_due(second) == 4  # today - due date - grace: the pause days count


def test_the_sweep_alone_ends_an_expired_pause(overdue_plan, business_day):
    plan = overdue_plan
    make_refund(plan=plan, amount="100.00")
    business_day(PAUSE_END)
    counts = sweep_overdue()
    assert (counts["installments_marked_overdue"], counts["users_marked_debt"]) == (2, 1)
    assert statuses(plan) == ["OVERDUE", "OVERDUE", "UPCOMING"] and user_status(plan) == UserStatus.DEBT_USER


def test_the_sweep_sets_back_an_overdue_installment_whose_plan_is_paused(overdue_plan):
    """A pause set without a live check (the backfill migration of pending refunds): the sweep's
    restore pass sets the installment back and the user follows."""
    plan = overdue_plan
    Installment.objects.filter(plan=plan).update(collection_paused_until=PAUSE_END)
    counts = sweep_overdue()
    assert (counts["installments_restored_upcoming"], counts["users_restored"]) == (1, 1)
    assert statuses(plan) == ["UPCOMING", "UPCOMING", "UPCOMING"] and user_status(plan) == UserStatus.NORMAL
    first = Installment.objects.get(plan=plan, sequence=1)
    assert (first.overdue_since, first.max_days_past_due) == (PAST_DUE, 5)


@override_settings(BNPL_RETURN_PAUSE_DAYS=0)
def test_no_pause_with_return_pause_days_zero(overdue_plan):
    make_refund(plan=overdue_plan, amount="100.00")
    assert statuses(overdue_plan)[0] == "OVERDUE" and user_status(overdue_plan) == UserStatus.DEBT_USER
    assert debt_summary(user_id=overdue_plan.user_id).paused_plans == []


# --- Refund allocation policy (the 900/3 scenario of the issue) ---------------------------------


@override_settings(BNPL_REFUND_ALLOCATION="overdue_first")
def test_overdue_first_covers_the_overdue_installment_first_and_the_customer_is_normal(overdue_plan):
    plan = overdue_plan
    refund = refund_approve(refund=make_refund(plan=plan, amount="600.00"), decided_by="test")

    rows = list(Installment.objects.filter(plan=plan).order_by("sequence").values_list("refunded_amount", "status"))
    # Installment 1 (overdue) first, then from the last backwards: installment 3.
    assert rows == [(D("300.00"), "CANCELLED"), (0, "UPCOMING"), (D("300.00"), "CANCELLED")]
    assert (refund.applied_amount, refund.payout_amount) == (D("600.00"), 0)
    assert user_status(plan) == UserStatus.NORMAL
    assert debt_summary(user_id=plan.user_id).status == UserStatus.NORMAL
    first = Installment.objects.get(plan=plan, sequence=1)
    assert (first.overdue_since, first.max_days_past_due) == (PAST_DUE, 5)  # kept after it settled


def test_last_first_cancels_installments_three_and_two_and_the_customer_stays_in_debt(overdue_plan):
    plan = overdue_plan
    refund_approve(refund=make_refund(plan=plan, amount="600.00"), decided_by="test")

    rows = list(Installment.objects.filter(plan=plan).order_by("sequence").values_list("refunded_amount", "status"))
    assert rows == [(0, "OVERDUE"), (D("300.00"), "CANCELLED"), (D("300.00"), "CANCELLED")]
    assert user_status(plan) == UserStatus.DEBT_USER


@override_settings(BNPL_REFUND_ALLOCATION="overdue_first")
def test_overdue_first_takes_overdue_installments_oldest_first_then_the_last(business_day):
    business_day(START)
    plan = make_plan(total_amount="900.00", start_date=START)
    business_day(date(2025, 4, 2))  # installments 1 and 2 past due
    refund = refund_approve(refund=make_refund(plan=plan, amount="450.00"), decided_by="test")
    rows = list(Installment.objects.filter(plan=plan).order_by("sequence").values_list("refunded_amount", flat=True))
    assert rows == [D("300.00"), D("150.00"), 0]
    assert (refund.applied_amount, refund.payout_amount) == (D("450.00"), 0)
    assert user_status(plan) == UserStatus.DEBT_USER  # installment 2 still has 150.00 overdue


@pytest.mark.parametrize("value", ["", "first_last", "LAST_FIRST"])
def test_an_unknown_refund_allocation_refuses_to_start(value):
    with override_settings(BNPL_REFUND_ALLOCATION=value), pytest.raises(ImproperlyConfigured):
        check_business_settings()


def test_a_negative_return_pause_refuses_to_start():
    with override_settings(BNPL_RETURN_PAUSE_DAYS=-1), pytest.raises(ImproperlyConfigured):
        check_business_settings()


def test_a_negative_grace_refuses_to_start():
    with override_settings(BNPL_GRACE_DAYS=-1), pytest.raises(ImproperlyConfigured, match="BNPL_GRACE_DAYS"):
        check_business_settings()
    with override_settings(BNPL_GRACE_DAYS=0):
        check_business_settings()  # no grace at all is a valid choice


# --- The delinquency record after payment ------------------------------------------------------


def test_overdue_since_and_max_days_past_due_are_kept_after_payment(overdue_plan, business_day):
    plan = overdue_plan
    first = Installment.objects.get(plan=plan, sequence=1)
    assert (first.overdue_since, days_past_due(first), max_days_past_due(first)) == (PAST_DUE, 5, 5)

    business_day(date(2025, 3, 12))  # no sweep needed: days past due come from the one clock
    first.refresh_from_db()
    assert (days_past_due(first), max_days_past_due(first)) == (12, 12)

    repayment_apply(user=Customer.objects.get(pk=plan.user_id), installment_ids=[first.pk])
    business_day(date(2025, 4, 20))
    first.refresh_from_db()
    assert first.status == "PAID"
    assert (first.overdue_since, first.max_days_past_due, days_past_due(first), max_days_past_due(first)) == (
        PAST_DUE, 12, 0, 12)


def test_an_installment_paid_late_before_any_sweep_records_the_day_and_the_days(business_day):
    business_day(START)
    user = CustomerFactory()
    plan = make_plan(user=user, total_amount="900.00", start_date=START)
    business_day(date(2025, 3, 3))
    repayment_apply(user=user, amount=D("300.00"))
    first = Installment.objects.get(plan=plan, sequence=1)
    assert (first.status, first.overdue_since, first.max_days_past_due) == ("PAID", date(2025, 3, 3), 3)


def test_an_installment_paid_on_time_has_no_delinquency_record(business_day):
    business_day(START)
    user = CustomerFactory()
    plan = make_plan(user=user, total_amount="900.00", start_date=START)
    business_day(date(2025, 2, 28))
    repayment_apply(user=user, amount=D("300.00"))
    first = Installment.objects.get(plan=plan, sequence=1)
    assert (first.status, first.overdue_since, first.max_days_past_due) == ("PAID", None, 0)


@override_settings(BNPL_GRACE_DAYS=2)
def test_days_past_due_count_after_the_grace_days(business_day):
    business_day(START)
    plan = make_plan(total_amount="900.00", start_date=START)
    business_day(date(2025, 3, 2))  # 28 Feb + 2 grace days: not overdue yet
    sweep_overdue()
    assert statuses(plan)[0] == "UPCOMING"
    business_day(date(2025, 3, 3))
    sweep_overdue()
    first = Installment.objects.get(plan=plan, sequence=1)
    assert (first.status, first.overdue_since, days_past_due(first)) == ("OVERDUE", date(2025, 3, 3), 1)


@pytest.mark.parametrize("paused", [False, True], ids=["not paused", "paused by a pending return"])
def test_a_reversed_repayment_reopens_by_the_rule_and_records_the_day(business_day, paused):
    from debt.reversals import repayment_reverse

    business_day(START)
    user = CustomerFactory()
    plan = make_plan(user=user, total_amount="900.00", start_date=START)
    business_day(date(2025, 2, 25))
    result = repayment_apply(user=user, amount=D("300.00"))  # installment 1, on time
    business_day(PAST_DUE)
    if paused:
        make_refund(plan=plan, amount="100.00")
    repayment_reverse(repayment=result.repayment, reason="chargeback")
    first = Installment.objects.get(plan=plan, sequence=1)
    if paused:
        assert (first.status, first.overdue_since, user_status(plan)) == ("UPCOMING", None, UserStatus.NORMAL)
    else:
        assert (first.status, first.overdue_since, user_status(plan)) == ("OVERDUE", PAST_DUE, UserStatus.DEBT_USER)


# --- Over HTTP -----------------------------------------------------------------------------------


def test_the_debt_response_and_the_plan_show_the_pause_and_the_record(client_api, overdue_plan, business_day):
    plan = overdue_plan
    shown = client_api.get(f"/api/v1/plans/{plan.pk}/").json()["installments"][0]
    assert (shown["status"], shown["overdue_since"], shown["days_past_due"], shown["max_days_past_due"]) == (
        "OVERDUE", "2025-03-05", 5, 5)
    r = client_api.post("/api/v1/refunds/", {"plan_id": str(plan.pk), "transaction_id": "ret-1", "amount": "100.00"})
    assert r.status_code == 201, r.content

    business_day(date(2025, 3, 9))
    debt = client_api.get(f"/api/v1/debt/{plan.user_id}/").json()
    assert (debt["status"], debt["has_overdue"], debt["overdue_amount"]) == ("NORMAL", False, "0.00")
    assert debt["paused_plans"] == [{"plan_id": str(plan.pk), "until": PAUSE_END.isoformat()}]
    shown = client_api.get(f"/api/v1/plans/{plan.pk}/").json()["installments"][0]
    assert (shown["status"], shown["overdue_since"], shown["days_past_due"], shown["max_days_past_due"]) == (
        "UPCOMING", "2025-03-05", 0, 5)

    assert client_api.post(f"/api/v1/refunds/{r.json()['id']}/cancel/").status_code == 200
    debt = client_api.get(f"/api/v1/debt/{plan.user_id}/").json()
    assert (debt["status"], debt["overdue_amount"], debt["paused_plans"]) == ("DEBT_USER", "300.00", [])
    assert client_api.get(f"/api/v1/users/{plan.user_id}/").json()["status"] == "DEBT_USER"
    shown = client_api.get(f"/api/v1/plans/{plan.pk}/").json()["installments"][0]
    assert (shown["status"], shown["days_past_due"], shown["max_days_past_due"]) == ("OVERDUE", 9, 9)
