"""Row locks on plans and installments, in the one lock order: user (``users.locks``) ->
plans (by id) -> installments (by id) -> refund -> payout. Taken only through here."""
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from django.db.models import QuerySet, Subquery

from bnpl.prepared import PreparedQuery
from plans.models import Installment, Plan, PlanStatus
from plans.selectors import open_installments_of


def plans_lock(ids: Iterable[UUID] | QuerySet | Subquery) -> dict[UUID, Plan]:
    """Lock the plans ``ids`` (a list or a subquery of ids) in id order; returns them by id."""
    return {plan.pk: plan for plan in Plan.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


_PLAN_LOCK = PreparedQuery(lambda pk: Plan.objects.select_for_update().filter(pk=pk), pk=Plan._meta.pk)


def plan_lock(plan_id: UUID) -> Plan:
    """``Plan.objects.select_for_update().get(pk=plan_id)``, prepared (``bnpl.prepared``)."""
    return _PLAN_LOCK.one(pk=plan_id)


def installments_lock(installments: QuerySet[Installment]) -> list[Installment]:
    """Lock the installments of ``installments`` (a filtered queryset) in id order."""
    return list(installments.select_for_update().order_by("pk"))


_USER = Installment._meta.get_field("user")
_OPEN_PLANS_LOCK = PreparedQuery(
    lambda user_id: Plan.objects.select_for_update()
    .filter(pk__in=Subquery(open_installments_of(user_id).values("plan_id"))).order_by("pk"), user_id=_USER)
_OPEN_INSTALLMENTS_LOCK = PreparedQuery(
    lambda user_id: open_installments_of(user_id).select_for_update().order_by("pk"), user_id=_USER)


def open_installments_lock(user_id: UUID) -> tuple[dict[UUID, Plan], list[Installment]]:
    """Lock the plans of ``user_id``'s open installments, then those installments, each in id
    order: ``plans_lock`` and ``installments_lock`` on the user's open installments, prepared
    (``bnpl.prepared``; a repayment by amount takes them on every request). The caller holds the
    user's lock, so the two statements see the same installments."""
    plans = {plan.pk: plan for plan in _OPEN_PLANS_LOCK.fetch(user_id=user_id)}
    return plans, _OPEN_INSTALLMENTS_LOCK.fetch(user_id=user_id)


def lapsed_checkouts_lock(*, now: datetime) -> list[UUID]:
    """Lock, skipping those another transaction holds (a confirmation in flight), the checkouts
    still PENDING_CONFIRMATION past their ``expires_at``; returns their ids in id order."""
    return list(Plan.objects.select_for_update(skip_locked=True)
                .filter(status=PlanStatus.PENDING_CONFIRMATION, expires_at__lte=now)
                .order_by("pk").values_list("pk", flat=True))
