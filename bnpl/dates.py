"""Business dates: "today" is the date in ``BNPL_TIME_ZONE`` (API.md §0)."""
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def business_today() -> date:
    return timezone.now().astimezone(ZoneInfo(settings.BNPL_TIME_ZONE)).date()


def overdue_cutoff(today: date | None = None) -> date:
    """Installments due strictly before this date (and still outstanding) are overdue."""
    return (today or business_today()) - timedelta(days=settings.BNPL_GRACE_DAYS)
