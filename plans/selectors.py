"""Reads of plans: a fixed number of queries whatever the page size."""
from dataclasses import dataclass
from uuid import UUID

from django.db import connection
from django.db.models import Prefetch, QuerySet

from bnpl import dates
from bnpl.models import ApiKey
from bnpl.permissions import VisibleById, scoped_to_caller
from bnpl.prepared import PreparedQuery, attach_prefetched
from plans.models import Installment, Plan, PlanStatus


def _installments() -> QuerySet[Installment]:
    return Installment.objects.order_by("sequence")


def plan_queryset() -> QuerySet[Plan]:
    return Plan.objects.prefetch_related(Prefetch("installments", queryset=_installments()))


_VISIBLE = VisibleById(Plan, Plan.objects.all)
_INSTALLMENTS_OF = PreparedQuery(lambda plan_id: _installments().filter(plan_id=plan_id),
                                 plan_id=Installment._meta.get_field("plan"))


def plan_visible_to(*, api_key: ApiKey, pk) -> Plan | None:
    """``plans_visible_to(api_key=api_key).filter(pk=pk).first()``, installments prefetched, in two
    prepared statements (``bnpl.prepared``): building them in the ORM cost more than the rest of a plan read."""
    plan = _VISIBLE.get(pk, api_key=api_key)
    if plan is not None:
        attach_prefetched(plan, "installments", _INSTALLMENTS_OF.fetch(plan_id=plan.pk), _installments())
    return plan


def plans_visible_to(*, api_key: ApiKey) -> QuerySet[Plan]:
    """A merchant key sees its own merchant's plans only; clients and operators see all."""
    return scoped_to_caller(plan_queryset(), api_key)


@dataclass(frozen=True)
class PlanStanding:
    open_plans: int  # ACTIVE, and checkouts not yet expired: what BNPL_MAX_OPEN_PLANS counts
    outstanding: int  # minor units the user owes on its plans now


def plan_standing(*, user_id: UUID, exclude_plan_id: UUID | None = None) -> PlanStanding:
    """One query over the user's plans. A plan's paid and refunded amounts are its installments'
    sums (``installments_settle``), so its outstanding amount is the installments' too.

    Written as SQL (a fixed text, PostgreSQL and SQLite): every plan opened and confirmed reads it
    under the user's lock, and building the same statement in the ORM cost a seventh of the whole
    request's Python. An open plan is what ``Plan.current_status`` calls ACTIVE or
    PENDING_CONFIRMATION, on the same clock (``bnpl.dates``); ``plans/tests/test_standing.py``
    holds it equal to the model's own reading."""
    pk, expires = Plan._meta.pk, Plan._meta.get_field("expires_at")
    params = {"user_id": pk.get_db_prep_value(user_id, connection),
              "now": expires.get_db_prep_value(dates.now(), connection),
              "excluded": None if exclude_plan_id is None else pk.get_db_prep_value(exclude_plan_id, connection)}
    with connection.cursor() as cursor:
        cursor.execute(_STANDING_SQL, params)
        open_plans, outstanding = cursor.fetchone()
    return PlanStanding(open_plans=open_plans, outstanding=outstanding)


_STANDING_SQL = f"""
SELECT COUNT(*) FILTER (WHERE (status = '{PlanStatus.ACTIVE.value}'
                               OR (status = '{PlanStatus.PENDING_CONFIRMATION.value}' AND expires_at > %(now)s))
                              AND (%(excluded)s IS NULL OR id <> %(excluded)s)),
       COALESCE(SUM(total_amount + fee_amount - fee_waived_amount - paid_amount - refunded_amount)
                FILTER (WHERE status = '{PlanStatus.ACTIVE.value}'), 0)
  FROM {Plan._meta.db_table}
 WHERE user_id = %(user_id)s
"""  # noqa: S608 - built from the model's constants only


# --- figures for the operators' health page (ops app) -------------------------------

def active_plan_count() -> int:
    return Plan.objects.filter(status=PlanStatus.ACTIVE).count()
