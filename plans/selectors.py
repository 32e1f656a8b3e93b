"""Reads of plans: a fixed number of queries whatever the page size."""
from django.db.models import F, Prefetch, QuerySet, Sum

from plans.models import Installment, InstallmentStatus, Plan, PlanStatus


def plan_queryset() -> QuerySet[Plan]:
    return Plan.objects.prefetch_related(Prefetch("installments", queryset=Installment.objects.order_by("sequence")))


def plans_visible_to(api_key) -> QuerySet[Plan]:
    """A merchant key sees its own merchant's plans only; clients and operators see all."""
    qs = plan_queryset()
    if api_key.merchant_id is not None:
        qs = qs.filter(merchant_id=api_key.merchant_id)
    return qs


# --- figures for the operators' health page (ops app) -------------------------------

def active_plan_count() -> int:
    return Plan.objects.filter(status=PlanStatus.ACTIVE).count()


def overdue_outstanding_total() -> int:
    """What is outstanding on installments marked OVERDUE, in minor units, summed in the database."""
    outstanding = F("amount") - F("paid_amount") - F("refunded_amount")
    total = (Installment.objects.filter(status=InstallmentStatus.OVERDUE)
             .aggregate(total=Sum(outstanding))["total"])
    return total or 0
