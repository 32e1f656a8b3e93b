"""Reads of plans: a fixed number of queries whatever the page size."""
import functools
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import F, Prefetch, QuerySet
from django.db.models.lookups import In

from bnpl import dates
from bnpl.models import ApiKey
from bnpl.permissions import VisibleById, scoped_to_caller
from bnpl.prepared import PreparedQuery, ServerSQL, attach_prefetched
from bnpl.prepared_pages import PreparedPages
from plans.models import OPEN_STATUSES, Installment, Plan, PlanStatus


def open_installments_of(user_id) -> QuerySet[Installment]:
    """The user's installments with something outstanding (UPCOMING or OVERDUE); ``user_id`` may be a
    ``bnpl.prepared.Slot``. The one definition the debt reads and the repayment's locks build on."""
    return Installment.objects.filter(user_id=user_id, status__in=OPEN_STATUSES)


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


@functools.lru_cache(maxsize=256)
def _installments_of_plans(count: int) -> PreparedQuery[Installment]:
    """The installments of ``count`` plans, as ``plan_queryset()``'s prefetch reads them."""
    plan = Installment._meta.get_field("plan")
    # The lookup as an expression: the foreign key's own ``__in`` prepares its values at once, and
    # would not take a slot.
    return PreparedQuery(
        lambda **ids: _installments().filter(In(F("plan_id"), [ids[f"plan_{i}"] for i in range(count)])),
        **{f"plan_{i}": plan for i in range(count)})


def _attach_installments(plans: list[Plan]) -> None:
    """``plan_queryset()``'s prefetch for a page of plans read by a prepared statement: one query."""
    by_plan: dict[UUID, list[Installment]] = {plan.pk: [] for plan in plans}
    ids: dict[str, Any] = {f"plan_{i}": plan.pk for i, plan in enumerate(plans)}
    for installment in _installments_of_plans(len(plans)).fetch(**ids):
        by_plan[installment.plan_id].append(installment)  # in sequence order, as the prefetch's
    for plan in plans:
        attach_prefetched(plan, "installments", by_plan[plan.pk], _installments())


# The plans list's pages (``bnpl.prepared_pages``): ``plans_visible_to``, installments prefetched.
PLAN_PAGES = PreparedPages(Plan, Plan.objects.all, prefetch=_attach_installments)


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
        _STANDING.execute(cursor, params)
        open_plans, outstanding = cursor.fetchone()
    return PlanStanding(open_plans=open_plans, outstanding=outstanding)


# ``COALESCE(id <> excluded, TRUE)``: every plan when nothing is excluded (NULL), and a parameter
# PostgreSQL can type from the column when it prepares the statement (``IS NULL`` alone cannot).
_STANDING = ServerSQL(f"""
SELECT COUNT(*) FILTER (WHERE (status = '{PlanStatus.ACTIVE.value}'
                               OR (status = '{PlanStatus.PENDING_CONFIRMATION.value}' AND expires_at > %(now)s))
                              AND COALESCE(id <> %(excluded)s, TRUE)),
       COALESCE(SUM(total_amount + fee_amount - fee_waived_amount - paid_amount - refunded_amount)
                FILTER (WHERE status = '{PlanStatus.ACTIVE.value}'), 0)
  FROM {Plan._meta.db_table}
 WHERE user_id = %(user_id)s
""")  # noqa: S608 - built from the model's constants only


# --- figures for the operators' health page (ops app) -------------------------------

def active_plan_count() -> int:
    return Plan.objects.filter(status=PlanStatus.ACTIVE).count()
