"""Refunds built through the services, and a direct payment of chosen installments.

``pay_installments`` moves paid amounts per installment (any split, which a repayment by
amount cannot choose) the way ``repayment_apply`` does: under the user -> plan ->
installments locks, through the shared ``installments_settle`` step.
"""
from itertools import count

from django.db import transaction

from debt.services import debt_status_refresh
from plans.models import Installment, Plan
from plans.services import installments_settle
from plans.tests.factories import minor
from refunds.models import Refund
from refunds.services import refund_create
from users.models import Customer

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
        user = Customer.objects.select_for_update().get(pk=plan.user_id)
        Plan.objects.select_for_update().filter(pk=plan.pk).get()
        installments = {i.sequence: i for i in
                        Installment.objects.select_for_update().filter(plan=plan).order_by("id")}
        changed = []
        for sequence, amount in paid.items():
            installments[sequence].paid_amount += minor(amount)
            changed.append(installments[sequence])
        installments_settle(installments=changed)
        debt_status_refresh(user=user)
