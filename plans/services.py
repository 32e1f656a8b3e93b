"""Opening plans. Installment state after that is ``plans.installments``' to write."""
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction

from audit.models import ObjectType
from audit.services import StatusChange, status_change_record, status_changes_record
from bnpl import dates
from bnpl.bulk import bulk_insert, insert_one
from bnpl.errors import CreditLimitExceeded, InvalidState, TooManyOpenPlans, UserInDebt, ValidationFailed
from bnpl.models import ApiKey
from bnpl.money import currency, format_minor
from events.services import event_record, event_record_many
from ledger.services import journal_fee_waived, journal_plan_opened
from merchants.models import Merchant
from plans.installments import debt_status_refresh, due_date_extend, installment_fees_waived
from plans.locks import installments_lock, lapsed_checkouts_lock, plan_lock
from plans.models import (
    MAX_EXTENSION_DAYS,
    MIN_EXTENSION_DAYS,
    OPEN_STATUSES,
    Installment,
    InstallmentStatus,
    LateFeeWaiver,
    Plan,
    PlanStatus,
)
from plans.schedule import due_dates, split_amount
from plans.selectors import plan_standing
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
    # The plan as the API shows it, which its plan.created / plan.confirmed event carries.
    representation: dict = field(default_factory=dict)


def _announced(event_type: str, created: PlanCreation) -> PlanCreation:
    """Record ``event_type`` about the plan just opened or confirmed (its installments as written)."""
    assert created.plan is not None
    recorded = event_record(type=event_type, obj=created, merchant_id=created.plan.merchant_id)
    return replace(created, representation=recorded.data)


def plan_create(*, user: Customer, merchant: Merchant, total_amount: int, installment_count: int,
                start_date: date | None = None, awaiting_consent: bool = False,
                bound_backdating: bool = True) -> PlanCreation:
    """Open a plan of ``total_amount`` minor units with its installments, unless the user has
    overdue debt: then nothing is opened, the user is marked ``DEBT_USER`` (if the sweep had not
    yet) and the result carries the refusal (``UserInDebt``) instead of a plan. Past a limit
    (``plan_limits_check``) it raises and nothing is written.

    ``awaiting_consent`` (a merchant's checkout, API.md §12): the plan is PENDING_CONFIRMATION
    with no installments and no start date until the customer confirms it (``plan_confirm``),
    and it takes no ``start_date``. ``bound_backdating=False`` lets a historical plan (demo data,
    test scenarios) start further back than BNPL_MAX_BACKDATE_DAYS; the API never passes it.

    Holds the user's row lock for the whole transaction, so a plan never interleaves with a
    sweep, a repayment or another plan of the same user (the limits cannot be raced past).
    Two INSERTs whatever the count.
    """
    today = dates.business_today()
    if awaiting_consent:
        if start_date is not None:
            raise ValidationFailed(
                "start_date", "A merchant's plan starts on the day the customer confirms it; send no start_date.",
                "not_allowed")
    else:
        start_date = start_date or today
        _check_start_date(start_date, today, bounded=bound_backdating)
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
        # A checkout's credit is checked when the customer confirms it, the only time it is owed.
        plan_limits_check(user=user, total_amount=total_amount, credit=not awaiting_consent)
        if awaiting_consent:
            expires_at = dates.now() + timedelta(minutes=settings.BNPL_CHECKOUT_TTL_MINUTES)
            plan = insert_one(Plan(user=user, merchant=merchant, total_amount=total_amount,
                                   installment_count=installment_count, start_date=None,
                                   status=PlanStatus.PENDING_CONFIRMATION, expires_at=expires_at))
            return _announced("plan.created", PlanCreation(plan=plan, installments=[]))
        plan = insert_one(Plan(user=user, merchant=merchant, total_amount=total_amount,
                               installment_count=installment_count, start_date=start_date))
        installments = _schedule_create(plan=plan, user=user, today=today)
        return _announced("plan.created", PlanCreation(plan=plan, installments=installments))


def _check_start_date(start_date: date, today: date, *, bounded: bool) -> None:
    if start_date > today:
        raise ValidationFailed("start_date", "Must not be in the future.", "future_date")
    if not bounded:
        return
    earliest = today - timedelta(days=settings.BNPL_MAX_BACKDATE_DAYS)
    if start_date < earliest:
        raise ValidationFailed(
            "start_date", f"Must not be before {earliest.isoformat()} ({settings.BNPL_MAX_BACKDATE_DAYS} days "
                          "before today).", "too_early")


def _schedule_create(*, plan: Plan, user: Customer, today: date) -> list[Installment]:
    """The installments of a plan owed from ``plan.start_date`` (caller holds the user's lock)."""
    assert plan.start_date is not None, "a plan is owed from its start date"
    dues = due_dates(plan.start_date, plan.installment_count)
    installments = [Installment(plan=plan, user=user, sequence=k, due_date=due, amount=amount)
                    for k, (due, amount) in enumerate(zip(dues, split_amount(plan.total_amount,
                                                                              plan.installment_count),
                                                          strict=True), start=1)]
    bulk_insert(Installment, installments)
    # The journal: the customer owes the total, on the plan's value date (its start date). A checkout
    # reaches here only when confirmed, so an unconfirmed one has nothing in the journal.
    journal_plan_opened(plan=plan, installments=installments, business_date=plan.start_date)
    # A back-dated plan may already have installments past due: the same rule marks them.
    if dues[0] < dates.overdue_cutoff(today) and debt_status_refresh(user=user, today=today):
        installments = list(plan.installments.order_by("sequence"))
    return installments


# --- Checkout consent and limits (API.md §12) -------------------------------------------------------

def plan_limits_check(*, user: Customer, total_amount: int, exclude_plan_id: UUID | None = None,
                      credit: bool = True) -> None:
    """Refuse a plan that would take the user past ``BNPL_MAX_OPEN_PLANS`` or its credit limit.

    The caller holds the user's row lock (every writer of a user's plans takes it first), so the
    count and the sum read here, in a statement of their own after the lock, cannot change before
    the caller's write commits. ``exclude_plan_id``: the pending plan being confirmed.
    """
    standing = plan_standing(user_id=user.pk, exclude_plan_id=exclude_plan_id)
    if standing.open_plans >= settings.BNPL_MAX_OPEN_PLANS:
        raise TooManyOpenPlans(f"The user already has {standing.open_plans} open plans; at most "
                               f"{settings.BNPL_MAX_OPEN_PLANS} may be ACTIVE or PENDING_CONFIRMATION.")
    if credit and user.credit_limit is not None:
        available = max(user.credit_limit - standing.outstanding, 0)
        if total_amount > available:
            raise CreditLimitExceeded(f"The plan's total is above the user's available credit of "
                                      f"{format_minor(available)} {currency()}.")


def _locked_pending(plan_id: UUID, now: datetime) -> Plan:
    plan = plan_lock(plan_id)
    if plan.current_status(now) != PlanStatus.PENDING_CONFIRMATION:
        raise InvalidState(f"The plan is {plan.current_status(now)}; only a PENDING_CONFIRMATION plan can be "
                           "confirmed or declined.")
    return plan


def plan_confirm(*, plan: Plan) -> PlanCreation:
    """The customer's consent to a merchant's checkout: the plan becomes ACTIVE and owed.

    Its schedule counts from today's business date, and every check of plan creation is made
    now, under the user's lock (overdue debt, open plans, credit). A refusal leaves the plan
    PENDING_CONFIRMATION: ``UserInDebt`` is returned as the value (its DEBT_USER marking commits),
    a limit raises and nothing is written.
    """
    today, now = dates.business_today(), dates.now()
    with transaction.atomic():
        user = user_lock(plan.user_id)
        plan = _locked_pending(plan.pk, now)
        if debt_status_refresh(user=user, today=today):
            return PlanCreation(plan=None, refusal=UserInDebt())
        plan_limits_check(user=user, total_amount=plan.total_amount, exclude_plan_id=plan.pk)
        plan.status, plan.start_date = PlanStatus.ACTIVE, today
        plan.save(update_fields=["status", "start_date"])
        status_change_record(object_type=ObjectType.PLAN, object_id=plan.pk,
                             old=PlanStatus.PENDING_CONFIRMATION, new=PlanStatus.ACTIVE)
        installments = _schedule_create(plan=plan, user=user, today=today)
        return _announced("plan.confirmed", PlanCreation(plan=plan, installments=installments))


def plan_decline(*, plan: Plan) -> Plan:
    """The customer refuses a merchant's checkout: DECLINED, for good."""
    with transaction.atomic():
        plan = _locked_pending(plan.pk, dates.now())
        plan.status = PlanStatus.DECLINED
        plan.save(update_fields=["status"])
        status_change_record(object_type=ObjectType.PLAN, object_id=plan.pk,
                             old=PlanStatus.PENDING_CONFIRMATION, new=PlanStatus.DECLINED)
        event_record(type="plan.declined", obj=plan, merchant_id=plan.merchant_id)
    return plan


def plans_expire(*, now: datetime | None = None) -> int:
    """Mark every checkout past its ``expires_at`` EXPIRED; returns how many (beat runs it).

    The lapsed checkouts are locked with SKIP LOCKED: one a confirmation holds is left to the next
    run (the confirmation itself refuses it if it has lapsed), so beat never waits on a customer.
    """
    with transaction.atomic():
        ids = lapsed_checkouts_lock(now=now or dates.now())
        Plan.objects.filter(pk__in=ids).update(status=PlanStatus.EXPIRED)
        status_changes_record(changes=[StatusChange(ObjectType.PLAN, pk, PlanStatus.PENDING_CONFIRMATION,
                                                    PlanStatus.EXPIRED) for pk in ids])
        if ids:
            event_record_many(type="plan.expired", items=(
                (plan, plan.merchant_id) for plan in Plan.objects.filter(pk__in=ids).prefetch_related("installments")))
    return len(ids)


# --- Late fees: an operator's waiver (API.md §13) -----------------------------------------------


@dataclass(frozen=True)
class FeeWaiverResult:
    """What ``installment_fees_waive`` did: the waiver row and the installment right after it."""

    waiver: LateFeeWaiver
    installment: Installment
    user_status: str


def installment_fees_waive(*, installment: Installment, reason: str,
                           created_by: ApiKey | None = None) -> FeeWaiverResult:
    """Waive what is left of ``installment``'s late fees (``InvalidState`` if none is): a
    ``fee_waived`` journal transaction, the installment settled if nothing else is outstanding
    (PAID, or CANCELLED if nothing was ever paid), the plan's totals and status, and the user's
    status at once (the live overdue rule). Locks user -> plan -> installment, one transaction."""
    with transaction.atomic():
        user = user_lock(installment.user_id)
        plan = plan_lock(installment.plan_id)
        [installment] = installments_lock(Installment.objects.filter(pk=installment.pk))
        if installment.fees_outstanding <= 0:
            raise InvalidState("No late fee is outstanding on this installment.")
        waiver = LateFeeWaiver.objects.create(installment=installment, amount=installment.fees_outstanding,
                                              reason=reason, created_by=created_by)
        journal_fee_waived(waiver_id=waiver.pk, installment=installment, amount=waiver.amount, plan=plan)
        installment_fees_waived(installment=installment, plan=plan)
        debt_status_refresh(user=user)
    return FeeWaiverResult(waiver=waiver, installment=installment, user_status=user.status)
# --- Due-date extension (API.md §13) ---------------------------------------------------------------

def installment_extend(*, installment: Installment, days: int) -> Installment:
    """Move one open installment's due date ``days`` (1-14) later: the plan's one extension.

    Refused with ``InvalidState`` when the installment is settled, overdue or already past its due
    date (+ grace; even while a return pauses the plan's collection), or when any installment of
    the plan was extended before. Under the user's, the plan's and the installment's locks (the lock
    order), checked and written in one transaction; the due date's change goes to the audit trail.
    No event: API.md §14 names none for it (the installment as shown is the response).
    """
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_EXTENSION_DAYS <= days <= MAX_EXTENSION_DAYS:
        raise ValidationFailed("days", f"Must be a whole number of days from {MIN_EXTENSION_DAYS} to "
                                       f"{MAX_EXTENSION_DAYS}.", "out_of_range")
    today = dates.business_today()
    with transaction.atomic():
        user_lock(installment.user_id)
        plan_lock(installment.plan_id)
        (installment,) = installments_lock(Installment.objects.filter(pk=installment.pk))
        if installment.status not in OPEN_STATUSES:
            raise InvalidState(f"The installment is {installment.status}; only an open one can be extended.")
        if installment.status == InstallmentStatus.OVERDUE or installment.due_date < dates.overdue_cutoff(today):
            raise InvalidState("The installment is overdue; only one not yet past its due date can be extended.")
        if Installment.objects.filter(plan_id=installment.plan_id, extended_days__gt=0).exists():
            raise InvalidState("This plan's one due-date extension has been used.")
        old = due_date_extend(installment=installment, days=days)
        status_changes_record(changes=[StatusChange(ObjectType.INSTALLMENT, installment.pk, old,
                                                    installment.due_date.isoformat(), field="due_date")])
    return installment
