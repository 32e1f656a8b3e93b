"""Fineract-style scenarios written out as tables: schedule, overdue by date and grace, repayments."""
from datetime import date

import pytest
from django.test import override_settings

from bnpl.money import format_minor
from debt.selectors import debt_summary
from debt.services import repayment_apply, sweep_overdue
from debt.tests.factories import user_with_two_plans
from plans.models import Installment, Plan
from plans.tests.factories import make_plan, minor
from users.models import Customer
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.money]

D = minor  # a wire-form amount as the int of minor units the services use


# 1000.00 / 3 from 31 Jan, in a leap year and in a common one.
@pytest.mark.parametrize("start, total, count, dues, amounts", [
    (date(2024, 1, 31), "1000.00", 3, ["2024-02-29", "2024-03-31", "2024-04-30"], ["333.33", "333.33", "333.34"]),
    (date(2025, 1, 31), "1000.00", 3, ["2025-02-28", "2025-03-31", "2025-04-30"], ["333.33", "333.33", "333.34"]),
    (date(2024, 2, 29), "100.00", 12,
     ["2024-03-29", "2024-04-29", "2024-05-29", "2024-06-29", "2024-07-29", "2024-08-29", "2024-09-29",
      "2024-10-29", "2024-11-29", "2024-12-29", "2025-01-29", "2025-02-28"], ["8.33"] * 11 + ["8.37"]),
    (date(2025, 8, 31), "0.05", 4, ["2025-09-30", "2025-10-31", "2025-11-30", "2025-12-31"],
     ["0.01", "0.01", "0.01", "0.02"]),
])
def test_schedule(business_day, start, total, count, dues, amounts):
    business_day(start)
    plan = make_plan(total_amount=total, installment_count=count, start_date=start)
    rows = list(plan.installments.order_by("sequence"))
    assert [i.due_date.isoformat() for i in rows] == dues
    assert [format_minor(i.amount) for i in rows] == amounts
    assert sum(i.amount for i in rows) == D(total)


# Overdue is "due before today minus BNPL_GRACE_DAYS" (the sweep and the live debt view agree).
@pytest.mark.parametrize("start, grace, today, overdue_sequences, days_overdue, status", [
    (date(2024, 1, 31), 0, date(2024, 2, 29), [], [], "NORMAL"),
    (date(2024, 1, 31), 0, date(2024, 3, 1), [1], [1], "DEBT_USER"),
    (date(2025, 1, 31), 0, date(2025, 2, 28), [], [], "NORMAL"),
    (date(2025, 1, 31), 0, date(2025, 3, 1), [1], [1], "DEBT_USER"),
    (date(2025, 1, 31), 5, date(2025, 3, 5), [], [], "NORMAL"),
    (date(2025, 1, 31), 5, date(2025, 3, 6), [1], [6], "DEBT_USER"),
    (date(2025, 1, 31), 0, date(2025, 4, 1), [1, 2], [32, 1], "DEBT_USER"),
    (date(2025, 1, 31), 0, date(2025, 5, 1), [1, 2, 3], [62, 31, 1], "DEBT_USER"),
    (date(2024, 1, 31), 30, date(2024, 3, 30), [], [], "NORMAL"),
    (date(2024, 1, 31), 30, date(2024, 3, 31), [1], [31], "DEBT_USER"),
])
def test_overdue_by_date_and_grace(business_day, start, grace, today, overdue_sequences, days_overdue, status):
    business_day(start)
    user = CustomerFactory()
    plan = make_plan(user=user, start_date=start)
    business_day(today)
    with override_settings(BNPL_GRACE_DAYS=grace):
        live = debt_summary(user_id=user.pk)
        sweep_overdue()
    assert [o.installment.sequence for o in live.overdue] == overdue_sequences
    assert [o.days_overdue for o in live.overdue] == days_overdue
    assert live.status == status
    swept = list(plan.installments.filter(status="OVERDUE").order_by("sequence").values_list("sequence", flat=True))
    assert swept == overdue_sequences
    assert Customer.objects.get(pk=user.pk).status == status


@pytest.fixture
def two_plans(business_day):
    """A: 1000.00/3 from 31 Jan 2025 (due 28 Feb, 31 Mar, 30 Apr). B: 600.00/3 from 10 Feb 2025
    (due 10 Mar, 10 Apr, 10 May). Today 15 Mar 2025, after a sweep: A1 and B1 overdue."""
    user, a, b = user_with_two_plans(business_day)
    sweep_overdue()
    return user, {"A": a, "B": b}


def state(plans: dict[str, Plan]) -> dict[str, tuple[str, str]]:
    """{"A1": ("PAID", "333.33"), ...}: each installment's status and what it still owes."""
    return {f"{name}{i.sequence}": (i.status, format_minor(i.outstanding_amount))
            for name, plan in plans.items() for i in Installment.objects.filter(plan=plan)}


# Partial repayment by amount across two plans, oldest due date first.
@pytest.mark.parametrize("amount, allocations, after, user_status, plan_status", [
    ("100.00", [("A1", "100.00")],
     {"A1": ("OVERDUE", "233.33"), "B1": ("OVERDUE", "200.00")}, "DEBT_USER", ("ACTIVE", "ACTIVE")),
    ("333.33", [("A1", "333.33")],
     {"A1": ("PAID", "0.00"), "B1": ("OVERDUE", "200.00")}, "DEBT_USER", ("ACTIVE", "ACTIVE")),
    ("433.33", [("A1", "333.33"), ("B1", "100.00")],
     {"A1": ("PAID", "0.00"), "B1": ("OVERDUE", "100.00")}, "DEBT_USER", ("ACTIVE", "ACTIVE")),
    ("533.33", [("A1", "333.33"), ("B1", "200.00")],
     {"A1": ("PAID", "0.00"), "B1": ("PAID", "0.00"), "A2": ("UPCOMING", "333.33")}, "NORMAL", ("ACTIVE", "ACTIVE")),
    ("900.00", [("A1", "333.33"), ("B1", "200.00"), ("A2", "333.33"), ("B2", "33.34")],
     {"A2": ("PAID", "0.00"), "B2": ("UPCOMING", "166.66"), "A3": ("UPCOMING", "333.34")}, "NORMAL",
     ("ACTIVE", "ACTIVE")),
    ("1600.00", [("A1", "333.33"), ("B1", "200.00"), ("A2", "333.33"), ("B2", "200.00"), ("A3", "333.34"),
                 ("B3", "200.00")],
     {"A3": ("PAID", "0.00"), "B3": ("PAID", "0.00")}, "NORMAL", ("COMPLETED", "COMPLETED")),
])
def test_repay_amount_across_two_plans(two_plans, amount, allocations, after, user_status, plan_status):
    user, plans = two_plans
    names = {i.pk: f"{name}{i.sequence}" for name, plan in plans.items() for i in plan.installments.all()}
    result = repayment_apply(user=user, amount=D(amount))
    assert [(names[a.installment_id], format_minor(a.amount)) for a in result.allocations] == allocations
    assert result.repayment.amount == D(amount)
    now = state(plans)
    assert {key: now[key] for key in after} == after
    assert result.user_status == user_status == Customer.objects.get(pk=user.pk).status
    assert tuple(Plan.objects.get(pk=plans[n].pk).status for n in "AB") == plan_status
    assert Plan.objects.get(pk=plans["A"].pk).paid_amount == sum(
        (a.amount for a in result.allocations if names[a.installment_id][0] == "A"), D("0"))


# The user is NORMAL again only when the last overdue installment is settled.
@pytest.mark.parametrize("steps", [
    # (installments paid in this step, user status after it)
    [(["A2"], "DEBT_USER"), (["A1"], "DEBT_USER"), (["B1"], "NORMAL")],
    [(["B1"], "DEBT_USER"), (["A1"], "NORMAL")],
    [(["A1", "B1"], "NORMAL")],
    [(["B2", "B3"], "DEBT_USER"), (["A1"], "DEBT_USER"), (["B1"], "NORMAL")],
], ids=["upcoming-first", "newest-overdue-first", "both-at-once", "whole-plan-b-late"])
def test_normal_only_when_the_last_overdue_is_settled(two_plans, steps):
    user, plans = two_plans
    by_name = {f"{name}{i.sequence}": i.pk for name, plan in plans.items() for i in plan.installments.all()}
    for names, expected in steps:
        result = repayment_apply(user=user, installment_ids=[by_name[n] for n in names])
        assert result.user_status == expected
        assert Customer.objects.get(pk=user.pk).status == expected
        assert sweep_overdue()["users_restored"] == 0 and Customer.objects.get(pk=user.pk).status == expected


def test_same_due_date_goes_to_the_older_plan_first(business_day):
    business_day(date(2025, 1, 31))
    user = CustomerFactory()
    older = make_plan(user=user, total_amount="300.00", start_date=date(2025, 1, 31))
    newer = make_plan(user=user, total_amount="300.00", start_date=date(2025, 1, 31))
    result = repayment_apply(user=user, amount=D("150.00"))
    assert [(a.plan_id, a.amount) for a in result.allocations] == [
        (older.pk, D("100.00")), (newer.pk, D("50.00"))]
