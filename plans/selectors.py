"""Reads of plans: a fixed number of queries whatever the page size."""
from django.db.models import Prefetch, QuerySet

from bnpl.models import ApiKey
from bnpl.permissions import scoped_to_caller
from plans.models import Installment, Plan


def plan_queryset() -> QuerySet[Plan]:
    return Plan.objects.prefetch_related(Prefetch("installments", queryset=Installment.objects.order_by("sequence")))


def plans_visible_to(*, api_key: ApiKey) -> QuerySet[Plan]:
    """A merchant key sees its own merchant's plans only; clients and operators see all."""
    return scoped_to_caller(plan_queryset(), api_key)
