"""Reads of plans: a fixed number of queries whatever the page size."""
from django.db.models import Prefetch, QuerySet

from plans.models import Installment, Plan


def plan_queryset() -> QuerySet[Plan]:
    return Plan.objects.prefetch_related(Prefetch("installments", queryset=Installment.objects.order_by("sequence")))


def plans_visible_to(api_key) -> QuerySet[Plan]:
    """A merchant key sees its own merchant's plans only; clients and operators see all."""
    qs = plan_queryset()
    if api_key.merchant_id is not None:
        qs = qs.filter(merchant_id=api_key.merchant_id)
    return qs
