"""Small, typed readers for the environment (12-factor settings)."""
import os
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw is None or raw == "" else int(raw)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_late_fees(name: str) -> tuple[tuple[int, Decimal], ...]:
    """``BNPL_LATE_FEES``: comma-separated ``days_past_due:amount`` steps (``1:10000.00,8:7000.00``),
    days a positive integer given once, amount a positive decimal; empty: no fees. Anything else
    refuses to start (the amount's places are checked against the currency in ``bnpl.apps``)."""
    raw = os.environ.get(name, "").strip()
    steps: dict[int, Decimal] = {}
    for item in (part.strip() for part in raw.split(",")) if raw else ():
        days, _, amount = (text.strip() for text in item.partition(":"))
        try:
            value = Decimal(amount) if amount.isascii() else None
        except InvalidOperation:
            value = None
        if (not (days.isascii() and days.isdigit()) or int(days) <= 0 or int(days) in steps
                or value is None or not value.is_finite() or value <= 0):
            raise ImproperlyConfigured(
                f"{name}={raw!r} is malformed: expected comma-separated days:amount steps, days a positive "
                f"integer given once and amount > 0, e.g. '1:10000.00,8:7000.00' (empty for no fees).")
        steps[int(days)] = value
    return tuple(sorted(steps.items()))
