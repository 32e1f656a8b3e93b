"""The overdue rule (API.md §6 and §13), written once, in the three forms its callers need.

An installment is overdue when something is outstanding, its due date is before the cutoff
(today minus ``BNPL_GRACE_DAYS``, ``bnpl.dates.overdue_cutoff``) and its plan's collection is not
paused (a ``PENDING`` refund opened less than ``BNPL_RETURN_PAUSE_DAYS`` ago: the plan's
installments carry ``collection_paused_until``, written by ``plans.installments`` when a refund
is opened or decided; the pause holds while today is before that date).

- ``OVERDUE_SQL`` / ``NOT_OVERDUE_SQL``: the rule in raw SQL (pyformat ``%(cutoff)s``,
  ``%(today)s``), for the sweep's PostgreSQL passes and the live check;
- ``overdue_q``: the same rule as an ORM ``Q``, for the sweep's ORM passes (SQLite);
- ``is_overdue``: the same rule on a loaded row, for reads (debt summary, installment fields) and
  the refund allocation.

"Something is outstanding" is the open status itself (``OPEN_STATUSES``), which every caller
already selects on. ``plans/tests/test_overdue_rule.py`` checks the three forms agree.

Delinquency figures (API.md §13) follow from the rule: ``days_past_due`` is today − due date −
grace while the rule holds (else 0), computed on read from the one clock; ``max_days_past_due``
is the largest of the stored maximum (closed when an overdue spell ends: settled, or back to
``UPCOMING``) and today's ``days_past_due``.
"""
from datetime import date

from django.db import connection
from django.db.models import Func, IntegerField, Q

from bnpl import dates
from plans.models import OPEN_STATUSES, Installment

_NOT_PAUSED = "(collection_paused_until IS NULL OR collection_paused_until <= %(today)s)"
OVERDUE_SQL = f"(due_date < %(cutoff)s AND {_NOT_PAUSED})"
# Never NULL: due_date is NOT NULL and the pause test is TRUE when the column is NULL.
NOT_OVERDUE_SQL = f"(NOT {OVERDUE_SQL})"


def overdue_q(*, cutoff: date, today: date) -> Q:
    return Q(due_date__lt=cutoff) & (Q(collection_paused_until__isnull=True) | Q(collection_paused_until__lte=today))


def pause_active(paused_until: date | None, today: date) -> bool:
    return paused_until is not None and today < paused_until


def past_due(installment: Installment, *, cutoff: date, today: date) -> bool:
    """The rule's date and pause terms, whatever the stored status (for an installment being reopened)."""
    return installment.due_date < cutoff and not pause_active(installment.collection_paused_until, today)


def is_overdue(installment: Installment, *, cutoff: date, today: date) -> bool:
    return installment.status in OPEN_STATUSES and past_due(installment, cutoff=cutoff, today=today)


def days_past_due(installment: Installment, *, today: date | None = None) -> int:
    """API.md §13: today − due date − grace while the installment is overdue (the rule), else 0."""
    if installment.status not in OPEN_STATUSES:
        return 0  # settled: no clock read (installments are shown in bulk, e.g. in events)
    today = today or dates.business_today()
    if installment.due_date >= today:
        return 0  # not due yet: the cutoff is never after today (BNPL_GRACE_DAYS >= 0, bnpl.apps)
    cutoff = dates.overdue_cutoff(today)
    return (cutoff - installment.due_date).days if is_overdue(installment, cutoff=cutoff, today=today) else 0


def max_days_past_due(installment: Installment, *, today: date | None = None) -> int:
    return max(installment.max_days_past_due, days_past_due(installment, today=today))


def days_sql(day_param: str = "cutoff") -> str:
    """``%(<day_param>)s − due_date`` in days, as an integer, on this connection's database."""
    if connection.vendor == "postgresql":
        return f"(%({day_param})s::date - due_date)"
    return f"CAST(julianday(%({day_param})s) - julianday(due_date) AS INTEGER)"


def greatest_sql() -> str:
    return "GREATEST" if connection.vendor == "postgresql" else "MAX"


class DaysBetween(Func):
    """``later − earlier`` in whole days (two date expressions), for ORM updates on either database."""

    output_field = IntegerField()
    arity = 2

    def as_sql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" - ",
                              **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection,
                              template="CAST(julianday(%(expressions)s) AS INTEGER)",
                              arg_joiner=") - julianday(", **extra_context)
