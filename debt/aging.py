"""Aging of overdue debt (API.md §13): the buckets of ``BNPL_AGING_BUCKETS`` and the figures in them.

One module for every reader: the debt response (``aging`` of one user), the report
(``GET /reports/aging/``, now or as of a day from the journal), the daily snapshot the sweep
writes and the dashboard's charts.

Days past due are ``as_of − due_date − BNPL_GRACE_DAYS`` for an installment that is overdue, so an
installment is in a bucket exactly when the overdue rule holds (days past due >= 1). Which
installments are overdue and what is outstanding on each is never decided here:

- the debt response buckets the overdue list of ``debt_summary`` (the rule applied live);
- the report now reads the installments the rule last marked ``OVERDUE`` (the sweep and the live
  checks, wherever the rule is applied) and sums ``Installment.outstanding()``;
- the report as of a day reads each installment's owed balance (receivable and fee receivable)
  at the end of that day from the journal, overdue when due before that day minus the grace days.

A bucket ``lo-hi`` holds ``lo <= days <= hi``: with due dates, ``cutoff − hi <= due_date <=
cutoff − lo`` where ``cutoff = as_of − grace`` (``bnpl.dates.overdue_cutoff``), which is how the
set-based query groups without date arithmetic in SQL.
"""
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Case, Count, IntegerField, Sum, Value, When

from bnpl import dates
from debt.models import AgingSnapshot
from ledger.selectors import installment_owed_as_of
from plans.models import Installment, InstallmentStatus


@dataclass(frozen=True)
class Bucket:
    low: int
    high: int | None  # None: open-ended (the last bucket)

    @property
    def label(self) -> str:
        return f"{self.low}+" if self.high is None else f"{self.low}-{self.high}"

    def holds(self, days: int) -> bool:
        return days >= self.low and (self.high is None or days <= self.high)


def parse_buckets(raw: str) -> tuple[Bucket, ...]:
    """``"30,60,90"`` -> ``1-30, 31-60, 61-90, 91+``. Ascending positive integers, at least one;
    anything else refuses to start (``ImproperlyConfigured``)."""
    try:
        bounds = [int(item.strip()) for item in raw.split(",")]
        valid = all(item.strip().isascii() and item.strip().isdigit() for item in raw.split(","))
    except ValueError:
        valid = False
    if not valid or not bounds or bounds[0] < 1 or any(b >= a for a, b in zip(bounds[1:], bounds, strict=False)):
        raise ImproperlyConfigured(
            f"BNPL_AGING_BUCKETS={raw!r}: expected ascending positive whole numbers of days, e.g. 30,60,90")
    lows = [1, *(bound + 1 for bound in bounds)]
    return tuple(Bucket(low, high) for low, high in zip(lows, [*bounds, None], strict=True))


def buckets() -> tuple[Bucket, ...]:
    return parse_buckets(settings.BNPL_AGING_BUCKETS)


def days_past_due(*, due_date: date, as_of: date) -> int:
    """``as_of − due_date − BNPL_GRACE_DAYS`` (>= 1 exactly when the installment is past due)."""
    return (dates.overdue_cutoff(as_of) - due_date).days


@dataclass
class BucketFigures:
    bucket: str
    installments: int = 0
    amount: int = 0  # minor units
    users: int = 0
    user_ids: set = field(default_factory=set, repr=False)


class _Figures:
    """Every bucket's figures, zeros included, in bucket order (the setting is read once)."""

    def __init__(self) -> None:
        self.buckets = buckets()
        self.rows = [BucketFigures(bucket.label) for bucket in self.buckets]

    def row_for(self, days: int) -> BucketFigures | None:
        for bucket, row in zip(self.buckets, self.rows, strict=True):
            if bucket.holds(days):
                return row
        return None  # not past due


# --- One user: the debt response -------------------------------------------------------------

def debt_aging(*, overdue: Iterable, as_of: date) -> list[BucketFigures]:
    """The buckets of one user's overdue installments (``DebtSummary.overdue``: items with
    ``installment``), every bucket listed, zeros included."""
    figures = _Figures()
    for item in overdue:
        installment = item.installment
        row = figures.row_for(days_past_due(due_date=installment.due_date, as_of=as_of))
        if row is not None:
            row.installments += 1
            row.amount += installment.outstanding_amount
    return figures.rows


# --- Everyone: the report ----------------------------------------------------------------------

@dataclass(frozen=True)
class AgingReport:
    as_of: date
    buckets: list[BucketFigures]
    fees_outstanding: int  # minor units

    @property
    def total_overdue(self) -> int:
        return sum(row.amount for row in self.buckets)

    @property
    def installments(self) -> int:
        return sum(row.installments for row in self.buckets)


def fees_outstanding_now(*, merchant_id: UUID | None = None) -> int:
    """Late fees outstanding now: the one place the fees of API.md §13 are read for the report.

    0 until late fees exist on installments (the fees work fills this in, from the installments'
    fee columns, with the same ``merchant_id`` filter)."""
    return 0


def aging_report(*, today: date | None = None, merchant_id: UUID | None = None) -> AgingReport:
    """Overdue debt now, by bucket: one grouped query over the installments marked ``OVERDUE``."""
    today = today or dates.business_today()
    cutoff = dates.overdue_cutoff(today)
    whens = [When(due_date__gte=cutoff - timedelta(days=bucket.high), then=Value(index))
             for index, bucket in enumerate(buckets()) if bucket.high is not None]
    overdue = Installment.objects.filter(status=InstallmentStatus.OVERDUE, due_date__lt=cutoff)
    if merchant_id is not None:
        overdue = overdue.filter(plan__merchant_id=merchant_id)
    rows = (overdue.annotate(bucket=Case(*whens, default=Value(len(whens)), output_field=IntegerField()))
            .order_by().values("bucket")
            .annotate(installments=Count("pk"), users=Count("user_id", distinct=True),
                      amount=Sum(Installment.outstanding())))
    figures = _Figures().rows
    for row in rows:
        figure = figures[row["bucket"]]
        figure.installments, figure.users, figure.amount = row["installments"], row["users"], row["amount"] or 0
    return AgingReport(as_of=today, buckets=figures, fees_outstanding=fees_outstanding_now(merchant_id=merchant_id))


def aging_report_as_of(*, as_of: date, merchant_id: UUID | None = None) -> AgingReport:
    """Overdue debt at the end of ``as_of``, by bucket, from the journal: each installment's owed
    balance then (a repayment or fee booked later does not count), aged to that day."""
    cutoff = dates.overdue_cutoff(as_of)
    due = Installment.objects.filter(due_date__lt=cutoff)
    if merchant_id is not None:
        due = due.filter(plan__merchant_id=merchant_id)
    due_by_id: dict[UUID | None, tuple[UUID, date]] = {pk: (user_id, due_date) for pk, user_id, due_date in
                 due.values_list("pk", "user_id", "due_date").iterator(chunk_size=10_000)}
    figures, fees = _Figures(), 0
    for installment_id, owed, fee in installment_owed_as_of(as_of=as_of, merchant_id=merchant_id):
        known = due_by_id.get(installment_id)
        if known is None:
            continue  # not yet due then (or another merchant's)
        row = figures.row_for(days_past_due(due_date=known[1], as_of=as_of))
        if row is not None:
            row.installments += 1
            row.amount += owed
            row.user_ids.add(known[0])
            fees += fee
    for row in figures.rows:
        row.users = len(row.user_ids)
    return AgingReport(as_of=as_of, buckets=figures.rows, fees_outstanding=fees)


# --- The daily snapshot and the 30-day line ------------------------------------------------------

@dataclass(frozen=True)
class DailyOverdue:
    day: date
    amount: int | None  # minor units; None: no snapshot that day
    installments: int | None


def overdue_history(*, days: int = 30, today: date | None = None) -> list[DailyOverdue]:
    """The overdue total of each of the last ``days`` business days (today included), from the
    daily snapshots alone (one query); a day without a snapshot is ``None``."""
    today = today or dates.business_today()
    first = today - timedelta(days=days - 1)
    stored = {row.business_date: row for row in
              AgingSnapshot.objects.filter(business_date__range=(first, today)).only(
                  "business_date", "overdue_amount", "installments")}
    history = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = stored.get(day)
        history.append(DailyOverdue(day, row.overdue_amount if row else None, row.installments if row else None))
    return history
