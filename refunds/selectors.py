"""Reads of refunds, scoped to the caller."""
from uuid import UUID

from django.db.models import QuerySet

from bnpl.models import ApiKey
from bnpl.permissions import scoped_to_caller
from plans.models import Plan
from refunds.models import Refund


def refunds_visible_to(*, api_key: ApiKey) -> QuerySet[Refund]:
    """A merchant key sees its own merchant's refunds only; clients and operators see all."""
    return scoped_to_caller(Refund.objects.all(), api_key)


def plan_for_refund(*, api_key: ApiKey, plan_id: UUID) -> Plan | None:
    """The plan a new refund refers to, if it is within the caller's reach (else None, never revealed)."""
    return scoped_to_caller(Plan.objects.filter(pk=plan_id), api_key).first()
