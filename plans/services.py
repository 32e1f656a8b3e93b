"""Opening plans. Installment state after that is ``plans.installments``' to write."""
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction

from bnpl import dates
from bnpl.errors import UserInDebt, ValidationFailed
from bnpl.money import format_minor
from ledger.services import journal_plan_opened
from merchants.models import Merchant
from plans.installments import debt_status_refresh
from plans.models import Installment, Plan
from plans.schedule import due_dates, split_amount
from users.locks import user_lock
from users.models import Customer

MIN_INSTALLMENTS, MAX_INSTALLMENTS = 3, 12


@dataclass(frozen=True)
class PlanCreation:
    """What ``plan_create`` did: the plan and its installments (in sequence order, as written),
    or the refusal, a value so that the ``DEBT_USER`` marking it made commits with it."""

    plan: Plan | None
    installments: list[Installment] = field(default_factory=list)
    refusal: UserInDebt | None = None


def plan_create(*, user: Customer, merchant: Merchant, total_amount: int, installment_count: int,
                start_date: date | None = None) -> PlanCreation:
    """Open a plan of ``total_amount`` minor units with its installments, unless the user has
    overdue debt: then nothing is opened, the user is marked ``DEBT_USER`` (if the sweep had not
    yet) and the result carries the refusal (``UserInDebt``) instead of a plan.

    Holds the user's row lock for the whole transaction, so a plan never interleaves
    with a sweep or a repayment of the same user. Two INSERTs whatever the count.
    """
    today = dates.business_today()
    start_date = start_date or today
    if start_date > today:
        raise ValidationFailed("start_date", "Must not be in the future.", "future_date")
    if not MIN_INSTALLMENTS <= installment_count <= MAX_INSTALLMENTS:
        raise ValidationFailed("installment_count", "Must be between 3 and 12.", "out_of_range")
    if total_amount < installment_count:  # every installment at least one minor unit
        raise ValidationFailed(
            "total_amount", f"Too small: every installment must be at least {format_minor(1)}.", "too_small")

    with transaction.atomic():
        user = user_lock(user.pk)
        # The live debt rule: the status, refreshed from the installments themselves, so an
        # installment past due that no sweep has marked yet counts too (and is marked now).
        if debt_status_refresh(user=user, today=today):
            return PlanCreation(plan=None, refusal=UserInDebt())
        plan = Plan.objects.create(user=user, merchant=merchant, total_amount=total_amount,
                                   installment_count=installment_count, start_date=start_date)
        dues = due_dates(start_date, installment_count)
        installments = Installment.objects.bulk_create(
            Installment(plan=plan, user=user, sequence=k, due_date=due, amount=amount)
            for k, (due, amount) in enumerate(zip(dues, split_amount(total_amount, installment_count),
                                                  strict=True), start=1)
        )
        # The journal: the customer owes the total, on the plan's value date (its start date).
        journal_plan_opened(plan=plan, installments=installments, business_date=start_date)
        # A back-dated plan may already have installments past due: the same rule marks them.
        if dues[0] < dates.overdue_cutoff(today) and debt_status_refresh(user=user, today=today):
            installments = list(plan.installments.order_by("sequence"))
    return PlanCreation(plan=plan, installments=installments)
