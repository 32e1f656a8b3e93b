"""Refund services: applying an approved refund (Fineract-style tables), creation rules, the status machine."""
from datetime import timedelta

import pytest

from bnpl.dates import business_today
from bnpl.errors import DuplicateTransaction, InvalidState, RefundExceedsRefundable
from merchants.tests.factories import MerchantFactory
from plans.models import Installment, Plan
from plans.tests.factories import make_plan, minor
from refunds.models import Refund, RefundStatus
from refunds.services import refund_approve, refund_cancel, refund_create, refund_reject
from refunds.tests.factories import make_refund, pay_installments
from users.models import Customer, UserStatus

pytestmark = [pytest.mark.django_db, pytest.mark.money]

D = minor  # a wire-form amount as the int of minor units the services use
UP, OVERDUE, PAID, CANCELLED = "UPCOMING", "OVERDUE", "PAID", "CANCELLED"

# A 1000.00 plan in 3 installments: 333.33, 333.33, 333.34.
# paid: amounts paid per installment before the refund; back_dated: installment 1 is past due.
# expect: (refunded_amount, status) per installment after approval, first to last.
APPLICATION_TABLE = [
    pytest.param(dict(paid={}, refund="100.00", back_dated=False,
                      expect=[("0.00", UP), ("0.00", UP), ("100.00", UP)],
                      applied="100.00", payout="0.00", plan="ACTIVE", user="NORMAL"),
                 id="smaller than the last installment"),
    pytest.param(dict(paid={}, refund="333.34", back_dated=False,
                      expect=[("0.00", UP), ("0.00", UP), ("333.34", CANCELLED)],
                      applied="333.34", payout="0.00", plan="ACTIVE", user="NORMAL"),
                 id="exactly the last installment cancels it"),
    pytest.param(dict(paid={}, refund="500.00", back_dated=False,
                      expect=[("0.00", UP), ("166.66", UP), ("333.34", CANCELLED)],
                      applied="500.00", payout="0.00", plan="ACTIVE", user="NORMAL"),
                 id="spanning several installments"),
    pytest.param(dict(paid={1: "333.33", 3: "100.00"}, refund="300.00", back_dated=False,
                      expect=[("0.00", PAID), ("66.66", UP), ("233.34", PAID)],
                      applied="300.00", payout="0.00", plan="ACTIVE", user="NORMAL"),
                 id="partly paid last installment becomes PAID, the rest moves on"),
    pytest.param(dict(paid={1: "333.33", 2: "333.33", 3: "100.00"}, refund="400.00", back_dated=False,
                      expect=[("0.00", PAID), ("0.00", PAID), ("233.34", PAID)],
                      applied="233.34", payout="166.66", plan="COMPLETED", user="NORMAL"),
                 id="partly paid plan, refund above outstanding gives a payout"),
    pytest.param(dict(paid={}, refund="1000.00", back_dated=False,
                      expect=[("333.33", CANCELLED), ("333.33", CANCELLED), ("333.34", CANCELLED)],
                      applied="1000.00", payout="0.00", plan="COMPLETED", user="NORMAL"),
                 id="full refund of an unpaid plan cancels everything"),
    pytest.param(dict(paid={1: "333.33", 2: "333.33", 3: "333.34"}, refund="250.00", back_dated=False,
                      expect=[("0.00", PAID), ("0.00", PAID), ("0.00", PAID)],
                      applied="0.00", payout="250.00", plan="COMPLETED", user="NORMAL"),
                 id="fully paid plan: all of it is payout"),
    pytest.param(dict(paid={}, refund="1000.00", back_dated=True,
                      expect=[("333.33", CANCELLED), ("333.33", CANCELLED), ("333.34", CANCELLED)],
                      applied="1000.00", payout="0.00", plan="COMPLETED", user="NORMAL"),
                 id="refund clearing the overdue installment turns the user NORMAL"),
    pytest.param(dict(paid={1: "200.00"}, refund="800.00", back_dated=True,
                      expect=[("133.33", PAID), ("333.33", CANCELLED), ("333.34", CANCELLED)],
                      applied="800.00", payout="0.00", plan="COMPLETED", user="NORMAL"),
                 id="partly paid overdue installment cleared by refund becomes PAID, user NORMAL"),
    pytest.param(dict(paid={}, refund="666.67", back_dated=True,
                      expect=[("0.00", OVERDUE), ("333.33", CANCELLED), ("333.34", CANCELLED)],
                      applied="666.67", payout="0.00", plan="ACTIVE", user="DEBT_USER"),
                 id="overdue installment left outstanding keeps the user DEBT_USER"),
]


@pytest.mark.parametrize("case", APPLICATION_TABLE)
def test_approve_applies_refund_from_last_installment_backwards(case):
    start = business_today() - timedelta(days=40) if case["back_dated"] else None
    plan = make_plan(total_amount="1000.00", installment_count=3, start_date=start)
    if case["back_dated"]:
        assert Customer.objects.get(pk=plan.user_id).status == UserStatus.DEBT_USER
    if case["paid"]:
        pay_installments(plan, case["paid"])
    refund = make_refund(plan=plan, amount=case["refund"])

    refund = refund_approve(refund=refund, decided_by="test:approver")

    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED
    assert (refund.applied_amount, refund.payout_amount) == (D(case["applied"]), D(case["payout"]))
    assert refund.decided_by == "test:approver" and refund.decided_at is not None
    rows = list(Installment.objects.filter(plan=plan).order_by("sequence").values_list("refunded_amount", "status"))
    assert rows == [(D(amount), status) for amount, status in case["expect"]]
    plan = Plan.objects.get(pk=plan.pk)
    assert plan.status == case["plan"]
    assert plan.refunded_amount == D(case["applied"])
    assert Customer.objects.get(pk=plan.user_id).status == case["user"]


def test_refundable_counts_pending_and_approved_but_not_rejected_or_cancelled():
    plan = make_plan(total_amount="1000.00")
    approved = make_refund(plan=plan, amount="300.00")
    refund_approve(refund=approved, decided_by="t")
    make_refund(plan=plan, amount="300.00")  # pending
    refund_reject(refund=make_refund(plan=plan, amount="200.00"), decided_by="t")
    refund_cancel(refund=make_refund(plan=plan, amount="200.00"), decided_by="t")

    with pytest.raises(RefundExceedsRefundable):
        refund_create(plan=plan, transaction_id="too-much", amount=D("400.01"), reason="")
    refund, created = refund_create(plan=plan, transaction_id="exactly", amount=D("400.00"))
    assert created and refund.status == RefundStatus.PENDING
    with pytest.raises(RefundExceedsRefundable):
        refund_create(plan=plan, transaction_id="one-cent", amount=D("0.01"))


def test_refund_above_plan_total_is_refused():
    plan = make_plan(total_amount="1000.00")
    with pytest.raises(RefundExceedsRefundable):
        refund_create(plan=plan, transaction_id="t1", amount=D("1000.01"))
    assert not Refund.objects.exists()


def test_same_transaction_same_plan_and_amount_returns_existing_whatever_its_status():
    plan = make_plan()
    first = make_refund(plan=plan, amount="100.00", transaction_id="T-1")
    refund_reject(refund=first, decided_by="t")

    again, created = refund_create(plan=plan, transaction_id="T-1", amount=D("100.00"), reason="other reason")

    assert not created and again.pk == first.pk and again.status == RefundStatus.REJECTED
    assert Refund.objects.count() == 1


@pytest.mark.parametrize("other", ["amount", "plan"])
def test_same_transaction_with_other_plan_or_amount_is_duplicate(other):
    merchant = MerchantFactory()
    plan = make_plan(merchant=merchant)
    make_refund(plan=plan, amount="100.00", transaction_id="T-1")
    target_plan = make_plan(merchant=merchant) if other == "plan" else plan
    amount = D("100.00") if other == "plan" else D("100.01")

    with pytest.raises(DuplicateTransaction):
        refund_create(plan=target_plan, transaction_id="T-1", amount=amount)
    assert Refund.objects.count() == 1


def test_transaction_id_is_unique_per_merchant_only():
    make_refund(plan=make_plan(), transaction_id="SHARED")
    refund, created = refund_create(plan=make_plan(), transaction_id="SHARED", amount=D("100.00"))
    assert created and Refund.objects.filter(transaction_id="SHARED").count() == 2


DECISIONS = {
    "approve": lambda refund: refund_approve(refund=refund, decided_by="t:2"),
    "reject": lambda refund: refund_reject(refund=refund, decided_by="t:2", reason="late"),
    "cancel": lambda refund: refund_cancel(refund=refund, decided_by="t:2"),
}


@pytest.mark.parametrize("first", DECISIONS)
@pytest.mark.parametrize("then", DECISIONS)
def test_a_decided_refund_never_moves(first, then):
    plan = make_plan()
    refund = make_refund(plan=plan, amount="100.00")
    DECISIONS[first](refund)
    before = Refund.objects.values().get(pk=refund.pk)

    with pytest.raises(InvalidState):
        DECISIONS[then](refund)

    assert Refund.objects.values().get(pk=refund.pk) == before
    assert Plan.objects.get(pk=plan.pk).refunded_amount == (D("100.00") if first == "approve" else D("0.00"))


@pytest.mark.parametrize("decide, status", [(refund_reject, RefundStatus.REJECTED),
                                            (refund_cancel, RefundStatus.CANCELLED)])
def test_reject_and_cancel_record_the_decision_and_leave_the_plan(decide, status):
    plan = make_plan()
    refund = make_refund(plan=plan, amount="100.00")

    decide(refund=refund, decided_by="api_key:abc", reason="customer kept the goods")

    refund.refresh_from_db()
    assert refund.status == status
    assert (refund.decided_by, refund.decision_reason) == ("api_key:abc", "customer kept the goods")
    assert refund.decided_at is not None
    assert refund.applied_amount is None and refund.payout_amount is None
    assert Plan.objects.get(pk=plan.pk).refunded_amount == D("0.00")
    assert set(Installment.objects.filter(plan=plan).values_list("status", flat=True)) == {UP}
