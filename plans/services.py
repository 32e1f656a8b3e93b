"""The only writers of plans and installments."""
from collections.abc import Iterable
from datetime import date, datetime
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from bnpl import dates
from bnpl.dates import overdue_cutoff
from bnpl.errors import UserInDebt, domain_validation_error
from bnpl.money import format_minor
from debt.services import debt_status_refresh
from merchants.models import Merchant
from plans.models import Installment, Plan, PlanStatus
from plans.schedule import due_dates, split_amount
from users.models import Customer

MIN_INSTALLMENTS, MAX_INSTALLMENTS = 3, 12


def plan_create(*, user: Customer, merchant: Merchant, total_amount: int, installment_count: int,
                start_date: date | None = None) -> Plan:
    """Open a plan with its installments, unless the user has overdue debt.

    Holds the user's row lock for the whole transaction, so a plan never interleaves
    with a sweep or a repayment of the same user. Two INSERTs whatever the count.
    """
    today = dates.business_today()
    start_date = start_date or today
    if start_date > today:
        raise domain_validation_error("start_date", "Must not be in the future.", "future_date")
    if not MIN_INSTALLMENTS <= installment_count <= MAX_INSTALLMENTS:
        raise domain_validation_error("installment_count", "Must be between 3 and 12.", "out_of_range")
    if total_amount < installment_count:  # every installment at least one minor unit
        raise domain_validation_error(
            "total_amount", f"Too small: every installment must be at least {format_minor(1)}.", "too_small")

    with transaction.atomic():
        user = Customer.objects.select_for_update().defer(*Customer.ENCRYPTED_FIELDS).get(pk=user.pk)
        # The live debt rule: the status, refreshed from the installments themselves, so an
        # installment past due that no sweep has marked yet counts too (and is marked now).
        in_debt = debt_status_refresh(user=user, today=today)
        if not in_debt:
            plan = Plan.objects.create(user=user, merchant=merchant, total_amount=total_amount,
                                       installment_count=installment_count, start_date=start_date)
            dues = due_dates(start_date, installment_count)
            installments = Installment.objects.bulk_create(
                Installment(plan=plan, user=user, sequence=k, due_date=due, amount=amount)
                for k, (due, amount) in enumerate(zip(dues, split_amount(total_amount, installment_count),
                                                      strict=True), start=1)
            )
            # A back-dated plan may already have installments past due: the same rule marks them.
            if dues[0] < overdue_cutoff(today) and debt_status_refresh(user=user, today=today):
                installments = list(plan.installments.order_by("sequence"))
            _cache_installments(plan, installments)
    # Outside the atomic block: a DEBT_USER marking made by the refresh above stays committed.
    if in_debt:
        raise UserInDebt()
    return plan


def _cache_installments(plan: Plan, installments: list[Installment]) -> None:
    """Seed ``plan.installments.all()`` with the rows just written, as prefetch_related would."""
    queryset = Installment.objects.filter(plan=plan).order_by("sequence")
    queryset._result_cache, queryset._prefetch_done = installments, True
    plan._prefetched_objects_cache = {"installments": queryset}


# Each touched plan's totals and status, recomputed from its installments in one statement
# (PostgreSQL, and SQLite >= 3.33, both have UPDATE ... FROM).
_PLAN_TOTALS_SQL = """
    UPDATE plans_plan AS p
       SET paid_amount = s.paid, refunded_amount = s.refunded,
           status = CASE WHEN p.total_amount = s.paid + s.refunded THEN %s ELSE %s END
      FROM (SELECT plan_id, SUM(paid_amount) AS paid, SUM(refunded_amount) AS refunded
              FROM plans_installment WHERE plan_id IN ({ids}) GROUP BY plan_id) AS s
     WHERE p.id = s.plan_id
"""


def installments_settle(*, installments: Iterable[Installment], now: datetime | None = None) -> set[UUID]:
    """Persist installments whose ``paid_amount``/``refunded_amount`` the caller changed.

    Sets each installment's status (``Installment.settle_status``), then recomputes each
    touched plan's totals from its installments (so they always equal the sum) and its
    status, in one UPDATE. The caller holds the locks: user, then the plans, then the
    installments. Returns the touched plans' ids.
    """
    connection = transaction.get_connection()
    assert connection.in_atomic_block, "installments_settle needs the caller's locks"
    now = now or timezone.now()
    installments = list(installments)
    for installment in installments:
        installment.settle_status(now=now)
    # One statement whatever the count (a repayment may touch dozens of installments).
    Installment.objects.bulk_update(installments, ["paid_amount", "refunded_amount", "status", "paid_at"])
    plan_ids = {installment.plan_id for installment in installments}
    if plan_ids:
        prep = Plan._meta.pk.get_db_prep_value
        with connection.cursor() as cursor:
            cursor.execute(_PLAN_TOTALS_SQL.format(ids=", ".join(["%s"] * len(plan_ids))),
                           [PlanStatus.COMPLETED, PlanStatus.ACTIVE]
                           + [prep(pk, connection) for pk in sorted(plan_ids)])
    return plan_ids
