"""Property test: random sequences of plans, repayments, refunds, payouts, reversals, due-date
extensions and days passing, under both refund allocation policies (and, with late fees on, fee
assessment by the sweep and operators' waivers).

After every step, on PostgreSQL and on SQLite (the ``money`` pass): every journal transaction
balances; the stored plan and installment amounts equal the journal (``reconcile`` finds
nothing); principal ``paid - fee_paid + refunded <= amount``, fees ``fee_paid + fee_waived <=
fee_amount`` and a plan's fees within its cap; every status follows its rule (an OVERDUE
installment meets the overdue rule, a return's pause included); at most one extension per plan; the
delinquency record is consistent (an OVERDUE installment has ``overdue_since``, a settled one 0
days past due).
"""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Sum
from django.test import override_settings
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bnpl import dates
from bnpl.errors import DomainError
from debt.models import Repayment
from debt.reversals import repayment_reverse
from debt.services import repayment_apply, sweep_overdue
from ledger import services as ledger_services
from ledger.models import JournalEntry, Payout, PayoutStatus
from ledger.reconcile import reconcile
from merchants.tests.factories import MerchantFactory
from plans.models import OPEN_STATUSES, Installment, InstallmentStatus, Plan, PlanStatus
from plans.overdue import days_past_due, pause_active
from plans.services import installment_extend, installment_fees_waive, plan_create
from refunds.models import Refund, RefundStatus
from refunds.services import refund_approve, refund_cancel, refund_create, refund_reject
from users.models import Customer, UserStatus
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.money]
START = dates.business_today()

STEP = st.one_of(
    st.tuples(st.just("plan"), st.integers(3, 150_00), st.integers(3, 6), st.integers(0, 3)),
    st.tuples(st.just("repay_amount"), st.integers(1, 200_00)),
    st.tuples(st.just("repay_ids"), st.integers(0, 20)),
    st.tuples(st.just("refund"), st.integers(0, 5), st.integers(1, 150_00)),
    st.tuples(st.just("decide"), st.integers(0, 10), st.sampled_from(["approve", "approve", "reject", "cancel"])),
    st.tuples(st.just("payout"), st.integers(0, 10),
              st.sampled_from(["sent", "settled", "failed", "retry"])),
    st.tuples(st.just("reverse"), st.integers(0, 10)),
    st.tuples(st.just("extend"), st.integers(0, 20), st.integers(0, 15)),
    st.tuples(st.just("days"), st.integers(1, 45)),
    st.tuples(st.just("sweep"),),
)
# With late fees on: more sweeps and days (so fees are assessed) and operators' waivers.
FEE_STEP = st.one_of(STEP, st.tuples(st.just("sweep"),), st.tuples(st.just("days"), st.integers(1, 10)),
                     st.tuples(st.just("waive"), st.integers(0, 1)), st.tuples(st.just("waive"), st.integers(0, 1)))
LATE_FEES = ((1, Decimal("5.00")), (8, Decimal("3.50")))


def _pick(items, index):
    return items[index % len(items)] if items else None


class Run:
    def __init__(self, business_day):
        self.set_day = business_day
        self.today = business_day(START)
        self.user = CustomerFactory()
        self.merchant = MerchantFactory()
        self.n = 0

    def step(self, step) -> None:
        kind, *args = step
        try:
            getattr(self, kind)(*args)
        except DomainError:
            pass  # a refusal changes nothing; the invariants below still hold

    def plan(self, total, count, back):
        if total < count:
            return
        created = plan_create(user=self.user, merchant=self.merchant, total_amount=total, installment_count=count,
                              start_date=self.today - timedelta(days=back))
        if created.refusal is not None:
            raise created.refusal  # user_in_debt: refused, and the user is DEBT_USER (the rule)

    def repay_amount(self, amount):
        owed = sum(i.outstanding_amount for i in Installment.objects.filter(user=self.user, status__in=OPEN_STATUSES))
        if owed:
            repayment_apply(user=self.user, amount=min(amount, owed))

    def repay_ids(self, index):
        target = _pick(list(Installment.objects.filter(user=self.user).order_by("due_date", "id")), index)
        if target is not None:
            repayment_apply(user=self.user, installment_ids=[target.pk])

    def refund(self, index, amount):
        plan = _pick(list(Plan.objects.filter(user=self.user).order_by("created_at", "id")), index)
        if plan is not None:
            self.n += 1
            refund_create(plan=plan, transaction_id=f"t{self.n}", amount=amount)

    def decide(self, index, action):
        refund = _pick(list(Refund.objects.order_by("created_at", "id")), index)
        if refund is not None:
            {"approve": refund_approve, "reject": refund_reject, "cancel": refund_cancel}[action](
                refund=refund, decided_by="property")

    def payout(self, index, action):
        payout = _pick(list(Payout.objects.order_by("created_at", "id")), index)
        if payout is None:
            return
        if action == "sent":
            ledger_services.payout_mark_sent(payout_id=payout.pk, reference="ref")
        elif action == "settled":
            ledger_services.payout_mark_settled(payout_id=payout.pk)
        elif action == "failed":
            ledger_services.payout_mark_failed(payout_id=payout.pk, reason="bounced")
        else:
            ledger_services.payout_retry(payout_id=payout.pk)

    def reverse(self, index):
        repayment = _pick(list(Repayment.objects.order_by("created_at", "id")), index)
        if repayment is not None:
            repayment_reverse(repayment=repayment, reason="chargeback")

    def extend(self, index, days):
        target = _pick(list(Installment.objects.filter(user=self.user).order_by("due_date", "id")), index)
        if target is not None:
            installment_extend(installment=target, days=days)  # 0 and 15: refused, nothing changes

    def days(self, n):
        self.today += timedelta(days=n)
        self.set_day(self.today)

    def sweep(self):
        sweep_overdue(today=self.today)

    def waive(self, index):
        target = _pick(list(Installment.objects.filter(user=self.user).order_by("due_date", "id")), index)
        if target is not None:
            installment_fees_waive(installment=target, reason="property")


def check(today) -> None:
    result = reconcile()
    assert result["mismatch_count"] == 0, result["mismatches"][:5]
    cutoff = dates.overdue_cutoff(today)
    for i in Installment.objects.all():
        assert 0 <= i.paid_amount and 0 <= i.refunded_amount
        assert i.paid_amount - i.fee_paid_amount + i.refunded_amount <= i.amount  # principal
        assert 0 <= i.fee_paid_amount <= i.paid_amount and i.fee_paid_amount + i.fee_waived_amount <= i.fee_amount
        if i.outstanding_amount > 0:
            assert i.status in OPEN_STATUSES
            if i.status == InstallmentStatus.OVERDUE:
                # Marked overdue by a live check or a sweep on some day up to now: the date rule held then,
                # and no return pauses its plan now (a pause starts only with a live check).
                assert i.due_date < cutoff
                assert not pause_active(i.collection_paused_until, today)
                assert i.overdue_since is not None and i.overdue_since <= today
        else:
            assert i.status == (InstallmentStatus.PAID if i.paid_amount > 0 else InstallmentStatus.CANCELLED)
            assert (i.paid_at is not None) == (i.paid_amount > 0)
            assert days_past_due(i, today=today) == 0
        assert 0 <= i.extended_days <= 14 and i.max_days_past_due >= 0
    for plan in Plan.objects.all():
        assert plan.installments.filter(extended_days__gt=0).count() <= 1
        assert plan.paid_amount - plan.fee_paid_amount + plan.refunded_amount <= plan.total_amount
        assert plan.fee_amount <= plan.total_amount * django_settings.BNPL_LATE_FEE_CAP_PERCENT // 100
        assert plan.fee_amount == sum(plan.installments.values_list("fee_amount", flat=True))
        assert plan.status == (PlanStatus.COMPLETED if plan.outstanding_amount == 0 else PlanStatus.ACTIVE)
    for refund in Refund.objects.all():
        payout = Payout.objects.filter(refund_id=refund.pk).first()
        if refund.status == RefundStatus.APPROVED:
            assert refund.applied_amount + refund.payout_amount == refund.amount
            assert (payout is not None) == (refund.payout_amount > 0)
            assert payout is None or payout.amount == refund.payout_amount
        else:
            assert payout is None
    # What the customers are owed back is exactly the payouts not yet settled.
    owed = -sum(JournalEntry.objects.filter(account="refunds_owed").values_list("amount", flat=True))
    assert owed == sum(p.amount for p in Payout.objects.exclude(status=PayoutStatus.SETTLED))
    # The user's status follows at once, both ways, after every service call.
    user = Customer.objects.get()
    overdue = Installment.objects.filter(user=user, status=InstallmentStatus.OVERDUE).exists()
    assert user.status == (UserStatus.DEBT_USER if overdue else UserStatus.NORMAL)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=3, max_size=25),
       allocation=st.sampled_from(["last_first", "overdue_first"]))
def test_random_sequences_keep_the_books_and_the_rules(business_day, steps, allocation):
    with transaction.atomic(), override_settings(BNPL_REFUND_ALLOCATION=allocation):
        run = Run(business_day)
        run.plan(100_00, 3, 0)
        check(run.today)
        for step in steps:
            run.step(step)
            check(run.today)
        transaction.set_rollback(True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(steps=st.lists(FEE_STEP, min_size=3, max_size=25))
def test_random_sequences_with_late_fees_and_waivers_keep_the_books_and_the_rules(business_day, steps):
    with override_settings(BNPL_LATE_FEES=LATE_FEES, BNPL_LATE_FEE_CAP_PERCENT=25), transaction.atomic():
        run = Run(business_day)
        run.plan(100_00, 3, 0)
        run.days(31)  # the first installment a day past due (step 1), then whatever the steps do
        run.sweep()
        check(run.today)
        for step in steps:
            run.step(step)
            check(run.today)
        fees = Installment.objects.aggregate(fee=Sum("fee_amount"), waived=Sum("fee_waived_amount"))
        event(f"fees assessed: {bool(fees['fee'])}, waived: {bool(fees['waived'])}")
        transaction.set_rollback(True)
