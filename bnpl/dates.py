"""The one clock: the current time and business dates ("today" is the date in ``BNPL_TIME_ZONE``,
API.md §0). Every service reads time through here; tests move it with ``time-machine``."""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def now() -> datetime:
    return timezone.now()


def business_today() -> date:
    return business_date(now())


def business_date(moment: datetime) -> date:
    """The business date (in ``BNPL_TIME_ZONE``) of a stored timestamp."""
    return moment.astimezone(ZoneInfo(settings.BNPL_TIME_ZONE)).date()


def overdue_cutoff(today: date | None = None) -> date:
    """Installments due strictly before this date (and still outstanding) are overdue."""
    return (today or business_today()) - timedelta(days=settings.BNPL_GRACE_DAYS)
