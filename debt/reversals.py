"""Repayment reversals (API.md §11): a chargeback or a failed collection found later.

Every allocation of the repayment is taken back from its installment, which reopens as UPCOMING
or OVERDUE by section 6's rule (on the reversal's business day); its plan becomes ACTIVE; the
user's status follows at once. A repayment is reversed at most once. Earlier refunds are not
re-allocated (no replay of later transactions, unlike Fineract's reprocessing): what a refund
applied stays applied, a payout owed stays owed, and the reopened amount is what the customer
owes again.

Lock order, as everywhere: user -> plans (by id) -> installments (by id) -> the repayment.
"""
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.db.models import Max

from bnpl import dates
from bnpl.dates import overdue_cutoff
from bnpl.errors import InvalidState
from bnpl.models import ApiKey
from debt.locks import repayment_lock
from debt.models import Repayment, RepaymentAllocation, RepaymentReversal
from events.services import event_record
from ledger.services import journal_repayment_reversed
from plans.installments import debt_status_refresh, installments_settle
from plans.locks import installments_lock, plans_lock
from plans.models import OPEN_STATUSES, Installment, InstallmentStatus
from plans.overdue import past_due
from users.locks import user_lock


@dataclass(frozen=True)
class ReversalResult:
    """What ``repayment_reverse`` did: the reversal, the allocations it took back (in order), and
    the user's status right after it."""

    reversal: RepaymentReversal
    allocations: list[RepaymentAllocation]
    user_status: str


def repayment_reverse(*, repayment: Repayment, reason: str, created_by: ApiKey | None = None,
                      today: date | None = None) -> ReversalResult:
    """Undo ``repayment``; ``InvalidState`` if it was already reversed or if an installment's paid
    amount would go below zero."""
    today = today or dates.business_today()
    now = dates.now()
    with transaction.atomic():
        user = user_lock(repayment.user_id)
        allocations = list(RepaymentAllocation.objects.filter(repayment_id=repayment.pk).order_by("id"))
        plan_ids = sorted({a.plan_id for a in allocations})
        plans = plans_lock(plan_ids)
        installments = {i.pk: i for i in installments_lock(
            Installment.objects.filter(pk__in=[a.installment_id for a in allocations]))}
        repayment = repayment_lock(repayment.pk)
        if repayment.reversed_at is not None:
            raise InvalidState("The repayment is already reversed.")

        cutoff = overdue_cutoff(today)
        before = {pk: i.status for pk, i in installments.items()}
        parts, fees = [], {}
        for allocation in allocations:
            installment = installments[allocation.installment_id]
            if (installment.paid_amount < allocation.amount
                    or installment.fee_paid_amount < allocation.fee_amount):
                raise InvalidState(f"Reversing would leave installment {installment.pk} with a negative paid amount.")
            # What paid late fees goes back onto the fees (owed again, whatever was waived since).
            installment.paid_amount -= allocation.amount
            installment.fee_paid_amount -= allocation.fee_amount
            parts.append((installment, allocation.amount))
            if allocation.fee_amount:
                fees[installment.pk] = allocation.fee_amount
        last_paid = dict(RepaymentAllocation.objects
                         .filter(installment_id__in=list(installments), repayment__reversed_at__isnull=True)
                         .exclude(repayment_id=repayment.pk)
                         .values("installment_id").annotate(at=Max("repayment__created_at"))
                         .values_list("installment_id", "at"))
        for installment in installments.values():
            # paid_at: the last customer payment that still stands (API.md §6).
            installment.paid_at = last_paid.get(installment.pk) if installment.paid_amount > 0 else None
            if installment.outstanding_amount > 0 and installment.status not in OPEN_STATUSES:
                # Reopened: the overdue rule (a return's pause included) says which open status.
                if past_due(installment, cutoff=cutoff, today=today):
                    installment.status = InstallmentStatus.OVERDUE
                    installment.overdue_since = installment.overdue_since or today
                else:
                    installment.status = InstallmentStatus.UPCOMING

        journal_repayment_reversed(repayment_id=repayment.pk, parts=parts, plans=plans, fees=fees)
        plan_status_before = {pk: p.status for pk, p in plans.items()}
        installments_settle(installments=list(installments.values()), plans_before=plan_status_before,
                            installments_before=before)
        debt_status_refresh(user=user, today=today)

        repayment.reversed_at = now
        repayment.save(update_fields=["reversed_at"])
        reversal = RepaymentReversal.objects.create(repayment=repayment, user_id=user.pk, amount=repayment.amount,
                                                    reason=reason, created_by=created_by)
        # The status history: installments and plans by installments_settle, the user by debt_status_refresh.
        result = ReversalResult(reversal=reversal, allocations=allocations, user_status=user.status)
        # Client apps only (the customer's money): no merchant sees it (API.md §14).
        event_record(type="repayment.reversed", obj=result)
    return result
