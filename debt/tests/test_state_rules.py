"""The two state rules of issue 10 item 9 (API.md §6 v1.1).

- The overdue status follows the rule both ways: an OVERDUE installment that no longer meets it
  (its due date moved, the grace days raised) goes back to UPCOMING, in the sweep and in every
  live debt check, and the user's status follows.
- ``paid_at`` is the time of the customer's last payment, never of a refund.
"""
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import override_settings

from debt import services
from debt.selectors import debt_summary
from debt.services import repayment_apply, sweep_overdue
from plans.models import Installment, InstallmentStatus
from plans.services import plan_create
from plans.tests.factories import make_plan, minor
from refunds.services import refund_approve
from refunds.tests.factories import make_refund
from users.models import Customer, UserStatus
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.money]

START = date(2025, 1, 31)  # dues 2025-02-28, 03-31, 04-30
LATE = date(2025, 3, 5)    # the first is 5 days past due


def status_of(user) -> str:
    return Customer.objects.values_list("status", flat=True).get(pk=user.pk)


def first(plan) -> Installment:
    return Installment.objects.get(plan=plan, sequence=1)


@pytest.fixture
def overdue_user(business_day):
    """A user whose first installment the sweep marked OVERDUE on ``LATE``."""
    business_day(START)
    user = CustomerFactory()
    plan = make_plan(user=user, start_date=START)
    business_day(LATE)
    sweep_overdue()
    assert first(plan).status == InstallmentStatus.OVERDUE and status_of(user) == UserStatus.DEBT_USER
    return user, plan


@pytest.fixture(params=["postgresql", "orm"])
def sweep_path(request, monkeypatch):
    """The sweep's PostgreSQL SQL and its ORM path (SQLite's), both run here."""
    if request.param == "postgresql" and connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL path needs PostgreSQL")
    if request.param == "orm":
        monkeypatch.setattr(services, "_sweep_postgresql", services._sweep_orm)
    return request.param


def test_the_sweep_sets_back_an_installment_whose_due_date_moved(overdue_user, sweep_path):
    user, plan = overdue_user
    Installment.objects.filter(pk=first(plan).pk).update(due_date=LATE + timedelta(days=10))
    result = sweep_overdue()
    assert first(plan).status == InstallmentStatus.UPCOMING
    assert result["installments_restored_upcoming"] == 1 and result["users_restored"] == 1
    assert status_of(user) == UserStatus.NORMAL
    assert services.SweepRun.objects.order_by("-started_at").first().installments_restored_upcoming == 1
    again = sweep_overdue()
    assert (again["installments_restored_upcoming"], again["installments_marked_overdue"]) == (0, 0)


def test_the_sweep_sets_back_installments_when_the_grace_days_are_raised(overdue_user, sweep_path):
    user, plan = overdue_user
    with override_settings(BNPL_GRACE_DAYS=10):
        assert sweep_overdue()["installments_restored_upcoming"] == 1
    assert first(plan).status == InstallmentStatus.UPCOMING and status_of(user) == UserStatus.NORMAL
    assert sweep_overdue()["installments_marked_overdue"] == 1  # grace back to 0: overdue again
    assert status_of(user) == UserStatus.DEBT_USER


def test_small_chunks_restore_every_row(business_day, sweep_path):
    business_day(START)
    plans = [make_plan(start_date=START) for _ in range(3)]
    business_day(date(2025, 5, 5))
    assert sweep_overdue(chunk_size=2)["installments_marked_overdue"] == 9
    with override_settings(BNPL_GRACE_DAYS=60):  # cutoff 2025-03-06: only the first ones stay overdue
        result = sweep_overdue(chunk_size=2)
    assert result["installments_restored_upcoming"] == 6
    assert all(list(p.installments.order_by("sequence").values_list("status", flat=True))
               == ["OVERDUE", "UPCOMING", "UPCOMING"] for p in plans)


def test_a_plan_is_not_refused_once_the_overdue_installment_is_no_longer_due(overdue_user):
    user, plan = overdue_user
    Installment.objects.filter(pk=first(plan).pk).update(due_date=LATE + timedelta(days=10))
    assert debt_summary(user_id=user.pk).has_overdue is False
    created = plan_create(user=user, merchant=plan.merchant, total_amount=minor("300.00"), installment_count=3)
    assert created.refusal is None and created.plan is not None
    assert first(plan).status == InstallmentStatus.UPCOMING and status_of(user) == UserStatus.NORMAL


def test_a_repayment_sets_back_what_is_no_longer_overdue(overdue_user):
    user, plan = overdue_user
    Installment.objects.filter(pk=first(plan).pk).update(due_date=LATE + timedelta(days=10))
    result = repayment_apply(user=user, installment_ids=[Installment.objects.get(plan=plan, sequence=3).pk])
    assert result.user_status == UserStatus.NORMAL == status_of(user)
    assert first(plan).status == InstallmentStatus.UPCOMING


def test_a_refund_decision_sets_back_what_is_no_longer_overdue(overdue_user):
    user, plan = overdue_user
    with override_settings(BNPL_GRACE_DAYS=30):
        refund_approve(refund=make_refund(plan=plan, amount="10.00"), decided_by="test")
    assert first(plan).status == InstallmentStatus.UPCOMING and status_of(user) == UserStatus.NORMAL


# --- paid_at ---------------------------------------------------------------------------------------

def test_paid_at_is_the_last_payment_not_the_refund_that_settled_it(business_day):
    business_day(START)
    user = CustomerFactory()
    plan = make_plan(user=user, total_amount="300.00", start_date=START)
    business_day(date(2025, 2, 10))
    repayment_apply(user=user, amount=minor("40.00"))   # part of the first installment
    business_day(date(2025, 2, 12))
    repayment_apply(user=user, amount=minor("10.00"))   # the last payment on it
    paid_at = first(plan).paid_at
    assert paid_at is not None and paid_at.date() == date(2025, 2, 12)
    business_day(date(2025, 2, 20))
    refund_approve(refund=make_refund(plan=plan, amount="250.00"), decided_by="test")
    settled = first(plan)
    assert (settled.status, settled.paid_amount, settled.refunded_amount) == (
        InstallmentStatus.PAID, minor("50.00"), minor("50.00"))
    assert settled.paid_at == paid_at  # the refund's time never shows as a payment


def test_a_refund_alone_leaves_paid_at_empty_and_a_full_payment_stamps_it(business_day):
    business_day(START)
    plan = make_plan(total_amount="300.00", start_date=START)
    refund_approve(refund=make_refund(plan=plan, amount="100.00"), decided_by="test")
    third = Installment.objects.get(plan=plan, sequence=3)
    assert (third.status, third.paid_at) == (InstallmentStatus.CANCELLED, None)
    business_day(date(2025, 2, 3))
    repayment_apply(user=plan.user, installment_ids=[first(plan).pk])
    assert first(plan).paid_at.date() == date(2025, 2, 3) and first(plan).status == InstallmentStatus.PAID
