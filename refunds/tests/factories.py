"""Refunds built through the services, and a direct payment of chosen installments.

``pay_installments`` moves paid amounts per installment (any split, which a repayment by
amount cannot choose) the way ``repayment_apply`` does: under the user -> plan ->
installments locks, through the shared ``installments_settle`` step.
"""
from itertools import count

from django.db import transaction

from bnpl import dates
from plans.installments import debt_status_refresh, installments_settle
from plans.locks import installments_lock, plan_lock
from plans.models import Installment, Plan
from plans.tests.factories import minor
from refunds.models import Refund
from refunds.services import refund_create
from users.locks import user_lock

_sequence = count(1)


def make_refund(*, plan: Plan, amount: int | str = "100.00", transaction_id: str | None = None,
                reason: str = "") -> Refund:
    refund, created = refund_create(plan=plan, transaction_id=transaction_id or f"txn-{next(_sequence)}",
                                    amount=minor(amount), reason=reason)
    assert created
    return refund


def pay_installments(plan: Plan, paid: dict[int, int | str]) -> None:
    """Add ``paid[sequence]`` to each installment's paid amount (test stand-in for a repayment)."""
    with transaction.atomic():
        user = user_lock(plan.user_id)
        plan_lock(plan.pk)
        installments = {i.sequence: i for i in installments_lock(Installment.objects.filter(plan=plan))}
        changed = []
        for sequence, amount in paid.items():
            installments[sequence].paid_amount += minor(amount)
            installments[sequence].paid_at = dates.now()
            changed.append(installments[sequence])
        installments_settle(installments=changed)
        debt_status_refresh(user=user)
