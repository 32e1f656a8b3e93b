"""A user's debt as it stood at the end of a business day, rebuilt from the journal (``?as_of=``).

Only plans opened (``plan_opened``) on or before that day count; before the first one every
figure is empty. Overdue is section 6's rule applied on that day; ``days_overdue`` counts to it.
"""
from datetime import date
from uuid import UUID

from django.db.models import F

from debt.selectors import DebtSummary, allocation_order, debt_summary_of
from ledger.selectors import BALANCE_FIELDS, installment_balances_as_of, plans_opened_by
from plans.as_of import installment_as_of
from plans.models import Installment


def debt_summary_as_of(*, user_id: UUID, as_of: date) -> DebtSummary:
    plan_ids = plans_opened_by(user_id=user_id, as_of=as_of)
    balances = installment_balances_as_of(plan_ids=plan_ids, as_of=as_of) if plan_ids else {}
    stored_rows = list(Installment.objects.filter(plan_id__in=plan_ids)
                       .annotate(plan_created_at=F("plan__created_at"))) if plan_ids else []
    stored = allocation_order(installments=stored_rows,
                              plan_created_at={i.plan_id: i.plan_created_at for i in stored_rows})
    then = (installment_as_of(i, balances.get(i.pk, _zero()), as_of) for i in stored)
    return debt_summary_of(user_id=user_id, installments=[i for i in then if i.outstanding_amount > 0], today=as_of)


def _zero() -> dict[str, int]:
    return dict.fromkeys(BALANCE_FIELDS, 0)
