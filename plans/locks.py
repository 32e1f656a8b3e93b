"""Row locks on plans and installments, in the one lock order: user (``users.locks``) ->
plans (by id) -> installments (by id) -> refund -> payout. Taken only through here."""
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from django.db.models import QuerySet

from plans.models import Installment, Plan, PlanStatus


def plans_lock(ids: Iterable[UUID] | QuerySet) -> dict[UUID, Plan]:
    """Lock the plans ``ids`` (a list or a subquery of ids) in id order; returns them by id."""
    return {plan.pk: plan for plan in Plan.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def plan_lock(plan_id: UUID) -> Plan:
    return Plan.objects.select_for_update().get(pk=plan_id)


def lapsed_checkouts_lock(*, now: datetime) -> list[UUID]:
    """Lock the checkouts past ``expires_at`` that nobody else holds (SKIP LOCKED: one a confirmation
    holds is left for the next run); returns their ids."""
    return list(Plan.objects.select_for_update(skip_locked=True)
                .filter(status=PlanStatus.PENDING_CONFIRMATION, expires_at__lte=now).values_list("pk", flat=True))


def installments_lock(installments: QuerySet[Installment]) -> list[Installment]:
    """Lock the installments of ``installments`` (a filtered queryset) in id order."""
    return list(installments.select_for_update().order_by("pk"))
