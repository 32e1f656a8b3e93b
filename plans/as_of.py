"""A plan as it stood at the end of a business day, rebuilt from the journal (API.md §11 ``?as_of=``).

The amounts come from the journal alone; the statuses follow from them and from section 6's rule
applied on that day (an installment with something outstanding and due before that day minus the
grace days is OVERDUE). The objects returned are unsaved copies, shaped like the stored ones, so
the same serializers render them (a plan's installments handed to ``PlanSerializer`` in its context).
"""
import copy
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings

from bnpl.dates import overdue_cutoff
from ledger.selectors import BALANCE_FIELDS, installment_balances_as_of, plan_opened_on
from plans.models import Installment, InstallmentStatus, Plan, PlanStatus

_ZERO = dict.fromkeys(BALANCE_FIELDS, 0)


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, tzinfo=ZoneInfo(settings.BNPL_TIME_ZONE))


def installment_as_of(installment: Installment, balance: dict[str, int], as_of: date) -> Installment:
    then = copy.copy(installment)
    for name in ("paid_amount", "refunded_amount", "fee_amount", "fee_paid_amount", "fee_waived_amount"):
        setattr(then, name, balance[name])
    if then.outstanding_amount > 0:
        then.status = InstallmentStatus.OVERDUE if then.due_date < overdue_cutoff(as_of) else InstallmentStatus.UPCOMING
        then.paid_at = None
    else:
        then.status = InstallmentStatus.PAID if then.paid_amount > 0 else InstallmentStatus.CANCELLED
        if then.paid_at is not None and then.paid_at > _end_of(as_of):
            then.paid_at = None  # paid again later; that day's time is not kept apart from the journal
    return then


@dataclass(frozen=True)
class PlanAsOf:
    """A plan and its installments as they stood at the end of a day (unsaved copies)."""

    plan: Plan
    installments: list[Installment]


def plan_as_of(*, plan: Plan, as_of: date) -> PlanAsOf | None:
    """``plan`` at the end of ``as_of``; None if it owed nothing yet then (not opened by that day)."""
    opened = plan_opened_on(plan_id=plan.pk)
    if opened is None or as_of < opened:
        return None
    balances = installment_balances_as_of(plan_ids=[plan.pk], as_of=as_of)
    installments = [installment_as_of(i, balances.get(i.pk, _ZERO), as_of) for i in plan.installments.all()]
    then = copy.copy(plan)
    then.paid_amount = sum(i.paid_amount for i in installments)
    then.refunded_amount = sum(i.refunded_amount for i in installments)
    for name in ("fee_amount", "fee_paid_amount", "fee_waived_amount"):
        setattr(then, name, sum(getattr(i, name) for i in installments))
    then.status = PlanStatus.COMPLETED if then.outstanding_amount == 0 else PlanStatus.ACTIVE
    return PlanAsOf(plan=then, installments=installments)
