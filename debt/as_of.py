"""A user's debt as it stood at the end of a business day, rebuilt from the journal (``?as_of=``).

Only plans opened (``plan_opened``) on or before that day count; before the first one every
figure is empty. Overdue is section 6's rule applied on that day; ``days_overdue`` counts to it.
"""
from datetime import date
from uuid import UUID

from django.db.models import F

from bnpl.dates import overdue_cutoff
from debt.selectors import DebtSummary, OverdueInstallment, allocation_key
from ledger.selectors import BALANCE_FIELDS, installment_balances_as_of, plans_opened_by
from plans.as_of import installment_as_of
from plans.models import Installment
from users.models import UserStatus


def debt_summary_as_of(*, user_id: UUID, as_of: date) -> DebtSummary:
    plan_ids = plans_opened_by(user_id=user_id, as_of=as_of)
    balances = installment_balances_as_of(plan_ids=plan_ids, as_of=as_of) if plan_ids else {}
    cutoff = overdue_cutoff(as_of)
    overdue: list[OverdueInstallment] = []
    next_due = None
    outstanding = overdue_amount = fees = 0
    installments = sorted(Installment.objects.filter(plan_id__in=plan_ids)
                          .annotate(plan_created_at=F("plan__created_at")), key=allocation_key) if plan_ids else []
    for stored in installments:
        installment = installment_as_of(stored, balances.get(stored.pk, _zero()), as_of)
        if installment.outstanding_amount <= 0:
            continue
        outstanding += installment.outstanding_amount
        fees += installment.fees_outstanding
        if installment.due_date < cutoff:
            overdue.append(OverdueInstallment(installment, (as_of - installment.due_date).days))
            overdue_amount += installment.outstanding_amount
        elif next_due is None:
            next_due = installment
    return DebtSummary(user_id=user_id, status=UserStatus.DEBT_USER if overdue else UserStatus.NORMAL,
                       overdue=overdue, overdue_amount=overdue_amount, outstanding_amount=outstanding,
                       next_due=next_due, fees_outstanding=fees)


def _zero() -> dict[str, int]:
    return dict.fromkeys(BALANCE_FIELDS, 0)
