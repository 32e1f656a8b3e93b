"""The data migration to integer minor units converts existing rows exactly (PostgreSQL and SQLite)."""
import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from debt.models import Repayment, RepaymentAllocation
from merchants.tests.factories import MerchantFactory
from plans.models import Installment, Plan
from refunds.models import Refund
from users.tests.factories import CustomerFactory

# Slow: each test migrates three apps back and forth.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.money, pytest.mark.slow]

BEFORE = [("plans", "0002_upcoming_due_id_idx"), ("debt", "0001_initial"), ("refunds", "0001_initial")]
AFTER = [("plans", "0003_amounts_in_minor_units"), ("debt", "0002_amounts_in_minor_units"),
         ("refunds", "0002_amounts_in_minor_units")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_decimal_rows_become_exact_minor_units_and_float_leftovers_are_repaired():
    user, merchant = CustomerFactory(), MerchantFactory()
    old = _migrate(BEFORE)
    try:
        OldPlan, OldInstallment = old.get_model("plans", "Plan"), old.get_model("plans", "Installment")
        OldRepayment = old.get_model("debt", "Repayment")
        OldAllocation = old.get_model("debt", "RepaymentAllocation")
        OldRefund = old.get_model("refunds", "Refund")
        now = timezone.now()
        # 100.01 in 12, every installment paid, totals summed by the database as the old code did.
        paid = OldPlan.objects.create(id=uuid.uuid4(), user_id=user.pk, merchant_id=merchant.pk,
                                      total_amount=Decimal("100.01"), installment_count=12,
                                      start_date=date(2025, 1, 1), status="ACTIVE")
        amounts = [Decimal("8.33")] * 11 + [Decimal("8.38")]
        for k, amount in enumerate(amounts, start=1):
            OldInstallment.objects.create(id=uuid.uuid4(), plan_id=paid.pk, user_id=user.pk, sequence=k,
                                          due_date=date(2025, 1 + k % 12, 1), amount=amount, paid_amount=amount,
                                          status="PAID", paid_at=now)
        with connection.cursor() as cursor:
            # SQLite sums the floats to 100.00999999999999 and leaves the plan ACTIVE (the bug).
            paid_sum = "(SELECT SUM(i.paid_amount) FROM plans_installment AS i WHERE i.plan_id = plans_plan.id)"
            cursor.execute(f"UPDATE plans_plan SET paid_amount = {paid_sum}, status = CASE WHEN "  # noqa: S608
                           f"total_amount = {paid_sum} + refunded_amount THEN 'COMPLETED' ELSE 'ACTIVE' END")
        if connection.vendor == "sqlite":  # the state the float sums left behind, repaired below
            assert OldPlan.objects.get(pk=paid.pk).status == "ACTIVE"
        # An open plan with odd cents, a repayment on it and an approved refund with a payout.
        open_plan = OldPlan.objects.create(id=uuid.uuid4(), user_id=user.pk, merchant_id=merchant.pk,
                                           total_amount=Decimal("999999999999.99"), installment_count=3,
                                           start_date=date(2025, 1, 1), status="ACTIVE",
                                           paid_amount=Decimal("0.07"), refunded_amount=Decimal("0.30"))
        first = OldInstallment.objects.create(id=uuid.uuid4(), plan_id=open_plan.pk, user_id=user.pk, sequence=1,
                                              due_date=date(2025, 2, 1), amount=Decimal("333333333333.33"),
                                              paid_amount=Decimal("0.07"), status="OVERDUE")
        OldInstallment.objects.create(id=uuid.uuid4(), plan_id=open_plan.pk, user_id=user.pk, sequence=2,
                                      due_date=date(2025, 3, 1), amount=Decimal("333333333333.33"),
                                      status="UPCOMING")
        OldInstallment.objects.create(id=uuid.uuid4(), plan_id=open_plan.pk, user_id=user.pk, sequence=3,
                                      due_date=date(2025, 4, 1), amount=Decimal("333333333333.33"),
                                      refunded_amount=Decimal("0.30"), status="UPCOMING")
        repayment = OldRepayment.objects.create(id=uuid.uuid4(), user_id=user.pk, amount=Decimal("0.07"))
        OldAllocation.objects.create(repayment_id=repayment.pk, installment_id=first.pk, plan_id=open_plan.pk,
                                     amount=Decimal("0.07"))
        OldRefund.objects.create(id=uuid.uuid4(), plan_id=open_plan.pk, user_id=user.pk, merchant_id=merchant.pk,
                                 transaction_id="T-1", amount=Decimal("0.31"), status="APPROVED",
                                 applied_amount=Decimal("0.30"), payout_amount=Decimal("0.01"))
        OldRefund.objects.create(id=uuid.uuid4(), plan_id=open_plan.pk, user_id=user.pk, merchant_id=merchant.pk,
                                 transaction_id="T-2", amount=Decimal("12.34"))
    finally:
        _migrate(AFTER)

    paid_plan = Plan.objects.get(pk=paid.pk)
    assert (paid_plan.total_amount, paid_plan.paid_amount, paid_plan.status) == (10001, 10001, "COMPLETED")
    assert list(Installment.objects.filter(plan_id=paid.pk).order_by("sequence")
                .values_list("amount", flat=True)) == [833] * 11 + [838]
    big = Plan.objects.get(pk=open_plan.pk)
    assert (big.total_amount, big.paid_amount, big.refunded_amount, big.status) == (
        99_999_999_999_999, 7, 30, "ACTIVE")
    assert sorted(Installment.objects.filter(plan_id=open_plan.pk).values_list("amount", "paid_amount",
                                                                                "refunded_amount", "status")) == [
        (33_333_333_333_333, 0, 0, "UPCOMING"), (33_333_333_333_333, 0, 30, "UPCOMING"),
        (33_333_333_333_333, 7, 0, "OVERDUE")]
    assert Repayment.objects.get().amount == 7 and RepaymentAllocation.objects.get().amount == 7
    assert sorted(Refund.objects.values_list("amount", "applied_amount", "payout_amount")) == [
        (31, 30, 1), (1234, None, None)]
    assert all(type(v) is int for v in Plan.objects.values_list("total_amount", "paid_amount", flat=False)[0])
    with connection.cursor() as cursor:  # the stored values are integers, not floats that look like them
        cursor.execute("SELECT total_amount FROM plans_plan WHERE total_amount = 10001")
        assert type(cursor.fetchone()[0]) is int


def test_a_currency_with_fewer_places_than_the_data_stops_the_migration(settings):
    user, merchant = CustomerFactory(), MerchantFactory()
    old = _migrate(BEFORE)
    try:
        OldPlan = old.get_model("plans", "Plan")
        OldPlan.objects.create(id=uuid.uuid4(), user_id=user.pk, merchant_id=merchant.pk,
                               total_amount=Decimal("10.50"), installment_count=3, start_date=date(2025, 1, 1))
        settings.BNPL_CURRENCY = "JPY"
        with pytest.raises(RuntimeError, match="more places than BNPL_CURRENCY allows"):
            _migrate([("plans", "0003_amounts_in_minor_units")])
        assert OldPlan.objects.get().total_amount == Decimal("10.50")  # nothing lost
    finally:
        settings.BNPL_CURRENCY = "UZS"
        _migrate(AFTER)
