"""Demo data for the ledger: every kind of journal transaction, a payout in each state, a reversal.

Called by ``seed_demo`` as one separate step (``seed_ledger_demo``); everything goes through the
services. Re-running finds what it made before (by the refunds' transaction ids and the demo
users) and adds nothing twice.
"""
from datetime import date
from decimal import Decimal

from bnpl.crypto import lookup_hash
from bnpl.money import to_minor
from debt.models import Repayment
from debt.reversals import repayment_reverse
from debt.services import repayment_apply
from ledger import services as ledger
from ledger.models import Payout, PayoutStatus
from merchants.models import Merchant
from plans.models import Plan
from plans.services import plan_create
from refunds.models import Refund, RefundStatus
from refunds.services import refund_approve, refund_create
from users.models import Customer
from users.services import user_create

ERIN = {"full_name": "Erin Demo", "phone_number": "+998901110005", "passport_number": "DM1110005",
        "date_of_birth": date(1990, 6, 1), "card_number": "4111111111111111"}
FRANK = {"full_name": "Frank Demo", "phone_number": "+998901110006", "passport_number": "DM1110006",
         "date_of_birth": date(1985, 2, 20), "card_number": None}


def _user(data: dict) -> Customer:
    return (Customer.objects.filter(passport_hash=lookup_hash(data["passport_number"])).first()
            or user_create(**data))


def _plan(user: Customer, merchant: Merchant, total: str, count: int) -> tuple[Plan, bool]:
    existing = Plan.objects.filter(user=user, merchant=merchant).order_by("created_at").first()
    if existing:
        return existing, False
    created = plan_create(user=user, merchant=merchant, total_amount=to_minor(Decimal(total)), installment_count=count)
    if created.refusal is not None:
        raise created.refusal
    assert created.plan is not None  # no refusal: the plan was opened
    return created.plan, True


def _approved_refund(plan: Plan, transaction_id: str, amount: str) -> Refund:
    refund, _ = refund_create(plan=plan, transaction_id=transaction_id, amount=to_minor(Decimal(amount)),
                              reason="Demo return")
    if refund.status == RefundStatus.PENDING:
        refund = refund_approve(refund=refund, decided_by="demo")
    return refund


def seed_ledger_demo(*, merchant: Merchant) -> dict:
    """Erin: a plan, a repayment, a reversed repayment (a chargeback), a refund applied. Frank: a plan
    paid in full, then four refunds paid back to him as payouts PENDING, SENT, SETTLED and FAILED."""
    erin, frank = _user(ERIN), _user(FRANK)
    erin_plan, new = _plan(erin, merchant, "900.00", 3)
    if new:
        repayment_apply(user=erin, amount=to_minor(Decimal("300.00")))
        charged_back = repayment_apply(user=erin, amount=to_minor(Decimal("100.00")))
        repayment_reverse(repayment=charged_back.repayment, reason="Card chargeback (demo)")
    _approved_refund(erin_plan, "demo-ledger-erin-1", "60.00")

    frank_plan, new = _plan(frank, merchant, "400.00", 4)
    if new:
        repayment_apply(user=frank, installment_ids=list(frank_plan.installments.values_list("id", flat=True)))
    payouts = {}
    for n, target in enumerate((PayoutStatus.PENDING, PayoutStatus.SENT, PayoutStatus.SETTLED,
                                PayoutStatus.FAILED), start=1):
        refund = _approved_refund(frank_plan, f"demo-ledger-frank-{n}", "50.00")
        payout = Payout.objects.get(refund_id=refund.pk)
        if payout.status == PayoutStatus.PENDING and target != PayoutStatus.PENDING:
            payout = ledger.payout_mark_sent(payout_id=payout.pk, reference=f"DEMO-BANK-{n}")
            if target == PayoutStatus.SETTLED:
                payout = ledger.payout_mark_settled(payout_id=payout.pk)
            elif target == PayoutStatus.FAILED:
                payout = ledger.payout_mark_failed(payout_id=payout.pk, reason="Card closed (demo)")
        payouts[payout.status] = payout
    reversed_repayment = Repayment.objects.filter(user=erin, reversed_at__isnull=False).first()
    return {"erin": erin, "frank": frank, "erin_plan": erin_plan, "frank_plan": frank_plan, "payouts": payouts,
            "reversed_repayment": reversed_repayment}
