"""The one clock: the current time and business dates ("today" is the date in ``BNPL_TIME_ZONE``,
API.md §0). Every service reads time through here; tests move it with ``time-machine``."""
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def now() -> datetime:
    return timezone.now()


_pinned_day: ContextVar[date | None] = ContextVar("business_day", default=None)


def business_today() -> date:
    pinned = _pinned_day.get()
    return business_date(now()) if pinned is None else pinned


@contextmanager
def one_business_day() -> Iterator[date]:
    """Within the block, ``business_today()`` is the day it was on entry.

    For rendering one response: a plan's installments show their days past due as of one day,
    even when the response is built across midnight, and the clock is read once instead of twice
    per installment (a tenth of a plan read, bench/RESULTS.md "Request path, fourth pass").
    """
    day = business_today()
    token = _pinned_day.set(day)
    try:
        yield day
    finally:
        _pinned_day.reset(token)


def business_date(moment: datetime) -> date:
    """The business date (in ``BNPL_TIME_ZONE``) of a stored timestamp."""
    return moment.astimezone(ZoneInfo(settings.BNPL_TIME_ZONE)).date()


def overdue_cutoff(today: date | None = None) -> date:
    """Installments due strictly before this date (and still outstanding) are overdue."""
    return (today or business_today()) - timedelta(days=settings.BNPL_GRACE_DAYS)


def datetime_text_sql(expression: str) -> str:
    """DRF's text of a ``timestamptz`` SQL ``expression``, in PostgreSQL (``TIME_ZONE`` is UTC: ISO
    8601, microseconds only when not zero, then ``Z``; NULL stays NULL), for payloads the database
    builds set-based (``plans/tests/test_event_sql.py`` holds it equal to DRF's)."""
    assert settings.TIME_ZONE == "UTC", "the API shows times in UTC"
    utc = f"(({expression}) AT TIME ZONE 'UTC')"
    return (f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN mod(date_part('microseconds', {utc})::bigint, "
            f"1000000) <> 0 THEN to_char({utc}, '.US') ELSE '' END || 'Z')")
