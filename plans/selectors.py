"""Reads of plans: a fixed number of queries whatever the page size."""
from dataclasses import dataclass
from uuid import UUID

from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Now

from bnpl.models import ApiKey
from bnpl.permissions import scoped_to_caller
from plans.models import Installment, Plan, PlanStatus


def plan_queryset() -> QuerySet[Plan]:
    return Plan.objects.prefetch_related(Prefetch("installments", queryset=Installment.objects.order_by("sequence")))


def plans_visible_to(*, api_key: ApiKey) -> QuerySet[Plan]:
    """A merchant key sees its own merchant's plans only; clients and operators see all."""
    return scoped_to_caller(plan_queryset(), api_key)


@dataclass(frozen=True)
class PlanStanding:
    open_plans: int  # ACTIVE, and checkouts not yet expired: what BNPL_MAX_OPEN_PLANS counts
    outstanding: int  # minor units the user owes on its plans now


def plan_standing(*, user_id: UUID, exclude_plan_id: UUID | None = None) -> PlanStanding:
    """One query over the user's plans. A plan's paid and refunded amounts are its installments'
    sums (``installments_settle``), so its outstanding amount is the installments' too."""
    counted = Q(status=PlanStatus.ACTIVE) | Q(status=PlanStatus.PENDING_CONFIRMATION, expires_at__gt=Now())
    if exclude_plan_id is not None:
        counted &= ~Q(pk=exclude_plan_id)
    totals = Plan.objects.filter(user_id=user_id).aggregate(
        open_plans=Count("pk", filter=counted),
        outstanding=Sum(F("total_amount") + F("fee_amount") - F("fee_waived_amount") - F("paid_amount")
                        - F("refunded_amount"), filter=Q(status=PlanStatus.ACTIVE)))
    return PlanStanding(open_plans=totals["open_plans"], outstanding=totals["outstanding"] or 0)
# --- figures for the operators' health page (ops app) -------------------------------

def active_plan_count() -> int:
    return Plan.objects.filter(status=PlanStatus.ACTIVE).count()
