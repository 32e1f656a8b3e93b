"""Reads of refunds, scoped to the caller."""
from django.db.models import Count, QuerySet, Sum

from plans.models import Plan
from refunds.models import Refund, RefundStatus


def refunds_visible_to(api_key) -> QuerySet[Refund]:
    """A merchant key sees its own merchant's refunds only; clients and operators see all."""
    qs = Refund.objects.all()
    if api_key.merchant_id is not None:
        qs = qs.filter(merchant_id=api_key.merchant_id)
    return qs


def plan_for_refund(api_key, plan_id) -> Plan | None:
    """The plan a new refund refers to, if it is within the caller's reach (else None, never revealed)."""
    qs = Plan.objects.filter(pk=plan_id)
    if api_key.merchant_id is not None:
        qs = qs.filter(merchant_id=api_key.merchant_id)
    return qs.first()


def pending_refund_totals() -> tuple[int, int]:
    """How many refunds wait for a decision, and their amount summed in minor units (0 when none)."""
    totals = Refund.objects.filter(status=RefundStatus.PENDING).aggregate(n=Count("pk"), total=Sum("amount"))
    return totals["n"], totals["total"] or 0
