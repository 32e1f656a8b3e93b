"""Reads of a user's debt: the date rule applied live, one query over the open installments."""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.db.models import F, Prefetch, QuerySet, Sum

from bnpl import dates
from bnpl.prepared import PreparedQuery
from debt.aging import BucketFigures, debt_aging
from debt.models import Repayment, RepaymentAllocation, SweepRun
from plans.models import Installment, InstallmentStatus
from plans.overdue import is_overdue, pause_active
from plans.selectors import open_installments_of
from users.models import Customer, UserStatus


def allocation_order(*, installments: Iterable[Installment],
                     plan_created_at: Mapping[UUID, datetime]) -> list[Installment]:
    """``installments`` in the order a repayment by amount reaches them (API.md §6: oldest due date
    first), then the older plan (``plan_created_at``: each plan's creation time, by plan id), then
    the sequence."""
    return sorted(installments, key=lambda i: (i.due_date, plan_created_at[i.plan_id], i.sequence, i.plan_id))


@dataclass(frozen=True)
class OverdueInstallment:
    installment: Installment
    days_overdue: int


@dataclass(frozen=True)
class PausedPlan:
    """A plan whose collection a pending return pauses (API.md §13), until the business day ``until``."""

    plan_id: UUID
    until: date


@dataclass(frozen=True)
class DebtSummary:
    user_id: UUID
    status: str
    overdue: list[OverdueInstallment]
    overdue_amount: int  # minor units, late fees included (API.md §13)
    outstanding_amount: int
    next_due: Installment | None
    as_of: date | None = None  # the business day the figures are for (None: today)
    fees_outstanding: int = 0  # late fees still owed on the open installments
    # Plans whose collection a pending return pauses, by the day it ends (``?as_of=`` rebuilds no pause).
    paused_plans: list[PausedPlan] = field(default_factory=list)

    @property
    def has_overdue(self) -> bool:
        return bool(self.overdue)

    @property
    def aging(self) -> list[BucketFigures]:
        """The overdue installments by aging bucket (API.md §13), every bucket listed."""
        return debt_aging(overdue=self.overdue, as_of=self.as_of or dates.business_today())


_OPEN_INSTALLMENTS = PreparedQuery(
    lambda user_id: open_installments_of(user_id)
    .annotate(plan_created_at=F("plan__created_at")),
    user_id=Installment._meta.get_field("user"))


def open_installments(*, user_id: UUID) -> list[Installment]:
    """The user's outstanding installments in allocation order (partial index installment_user_open_owed_idx).
    Prepared (``bnpl.prepared``): every debt read runs it, and building it in the ORM cost more than
    the rest of the read."""
    rows: list[Any] = _OPEN_INSTALLMENTS.fetch(user_id=user_id)  # each annotated with plan_created_at
    return allocation_order(installments=rows, plan_created_at={i.plan_id: i.plan_created_at for i in rows})


def debt_summary(*, user_id: UUID, today: date | None = None) -> DebtSummary:
    """What the user owes now. Overdue is the rule itself (``plans.overdue``: the date, the grace
    days and a pending return's pause), so an installment past due that no sweep has marked yet is
    overdue here too (and one no longer overdue is not, whatever its stored status); ``status`` is
    that same rule (DEBT_USER exactly when something is overdue), which the stored user status
    matches after the next sweep or write for the user."""
    return debt_summary_of(user_id=user_id, installments=open_installments(user_id=user_id),
                           today=today or dates.business_today())


def debt_summary_of(*, user_id: UUID, installments: Iterable[Installment], today: date) -> DebtSummary:
    """The debt rule over ``installments`` (each with something outstanding, in allocation order)
    on ``today``: overdue by the rule of ``plans.overdue``, ``next_due`` the first that is not,
    DEBT_USER exactly when something is overdue. Its one place: live (``debt_summary``) and as of a
    past day (``debt.as_of``)."""
    cutoff = dates.overdue_cutoff(today)
    overdue: list[OverdueInstallment] = []
    next_due: Installment | None = None
    outstanding = overdue_amount = fees = 0
    paused: dict[UUID, date] = {}
    for installment in installments:
        outstanding += installment.outstanding_amount
        fees += installment.fees_outstanding
        until = installment.collection_paused_until
        if until is not None and pause_active(until, today):
            paused[installment.plan_id] = until
        if is_overdue(installment, cutoff=cutoff, today=today):
            overdue.append(OverdueInstallment(installment, (today - installment.due_date).days))
            overdue_amount += installment.outstanding_amount
        elif next_due is None:
            next_due = installment
    return DebtSummary(
        user_id=user_id,
        status=UserStatus.DEBT_USER if overdue else UserStatus.NORMAL,
        overdue=overdue,
        overdue_amount=overdue_amount,
        outstanding_amount=outstanding,
        next_due=next_due,
        as_of=today,
        fees_outstanding=fees,
        paused_plans=[PausedPlan(pk, until) for pk, until in sorted(paused.items(), key=lambda p: (p[1], str(p[0])))],
    )


def repayments_of(*, user_id: UUID) -> QuerySet[Repayment]:
    return Repayment.objects.filter(user_id=user_id).prefetch_related(
        Prefetch("allocations", queryset=RepaymentAllocation.objects.order_by("id")))


@dataclass(frozen=True)
class OverdueFigures:
    users_in_debt: int
    overdue_amount: int  # minor units, what is outstanding on OVERDUE installments


def overdue_figures() -> OverdueFigures:
    """Debt across all users as the sweep last recorded it (for the health page and metrics)."""
    overdue = (Installment.objects.filter(status=InstallmentStatus.OVERDUE)
               .aggregate(total=Sum(Installment.outstanding()))["total"])
    return OverdueFigures(users_in_debt=Customer.objects.filter(status=UserStatus.DEBT_USER).count(),
                          overdue_amount=overdue or 0)


# --- the overdue sweep's runs (read by the ops app: health page and metrics) ------

def last_sweep_run() -> SweepRun | None:
    """The last sweep run that finished and was not skipped, failed or not (``error`` says which).

    The one definition of "the last run" for every reader: the health page reports it (and is
    degraded when it failed), the metrics export its time with a failure flag beside it.
    """
    return (SweepRun.objects.filter(finished_at__isnull=False, skipped=False)
            .order_by("-started_at").first())


def running_sweep_run() -> SweepRun | None:
    """The sweep run in progress (started, not finished), if any."""
    return SweepRun.objects.filter(finished_at__isnull=True).order_by("-started_at").first()
