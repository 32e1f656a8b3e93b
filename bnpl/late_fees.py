"""The late-fee schedule (API.md §13) in minor units: ``BNPL_LATE_FEES`` steps and the cap."""
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from bnpl.money import to_minor


def late_fee_steps() -> list[tuple[int, int]]:
    """``[(days_past_due, amount in minor units)]`` in day order; empty when fees are off. A step
    with more places than ``BNPL_CURRENCY`` has, or a cap outside 0-100, is ``ImproperlyConfigured``."""
    cap = settings.BNPL_LATE_FEE_CAP_PERCENT
    if not 0 <= cap <= 100:
        raise ImproperlyConfigured(f"BNPL_LATE_FEE_CAP_PERCENT={cap} must be between 0 and 100.")
    try:
        return [(days, to_minor(amount)) for days, amount in settings.BNPL_LATE_FEES]
    except ValueError as exc:
        raise ImproperlyConfigured(f"BNPL_LATE_FEES: {exc}.") from None


def late_fee_cap(total_amount: int) -> int:
    """The most fees a plan of ``total_amount`` (minor units) may carry, rounded down to the minor unit."""
    return total_amount * settings.BNPL_LATE_FEE_CAP_PERCENT // 100
