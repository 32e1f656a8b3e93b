"""Reads of refunds, scoped to the caller."""
from uuid import UUID

from django.db.models import Count, Q, QuerySet, Sum

from bnpl.models import ApiKey
from bnpl.permissions import VisibleById, scoped_to_caller
from bnpl.prepared import PreparedQuery
from plans.models import Plan
from refunds.models import Refund, RefundStatus


def refunds_visible_to(*, api_key: ApiKey) -> QuerySet[Refund]:
    """A merchant key sees its own merchant's refunds only; clients and operators see all."""
    return scoped_to_caller(Refund.objects.all(), api_key)


_PLAN = VisibleById(Plan, Plan.objects.all)

# Refunds that hold part of the plan's refundable amount.
RESERVING_STATUSES = (RefundStatus.PENDING, RefundStatus.APPROVED)

_TRANSACTION_OR_RESERVING = PreparedQuery(
    lambda merchant_id, transaction_id, plan_id: Refund.objects.filter(
        Q(merchant_id=merchant_id, transaction_id=transaction_id) | Q(plan_id=plan_id, status__in=RESERVING_STATUSES)),
    merchant_id=Refund._meta.get_field("merchant"), transaction_id=Refund._meta.get_field("transaction_id"),
    plan_id=Refund._meta.get_field("plan"))


def transaction_or_reserving(*, merchant_id: UUID, transaction_id: str, plan_id: UUID) -> list[Refund]:
    """In one read, the merchant's refund with ``transaction_id`` (if any) and the plan's reserving
    refunds (a plan's refunds are few: their amounts are bounded by its total); prepared
    (``bnpl.prepared``), as every refund request runs it."""
    return _TRANSACTION_OR_RESERVING.fetch(merchant_id=merchant_id, transaction_id=transaction_id, plan_id=plan_id)


def plan_for_refund(*, api_key: ApiKey, plan_id: UUID) -> Plan | None:
    """The plan a new refund refers to, if it is within the caller's reach (else None, never revealed):
    ``scoped_to_caller(Plan.objects.filter(pk=plan_id), api_key).first()``, prepared."""
    return _PLAN.get(plan_id, api_key=api_key)


def pending_refund_totals() -> tuple[int, int]:
    """How many refunds wait for a decision, and their amount summed in minor units (0 when none)."""
    totals = Refund.objects.filter(status=RefundStatus.PENDING).aggregate(n=Count("pk"), total=Sum("amount"))
    return totals["n"], totals["total"] or 0
