"""The installment schedule: how a total is split and when each part is due (API.md §5)."""
from datetime import date
from decimal import ROUND_DOWN, Decimal

from dateutil.relativedelta import relativedelta

from bnpl.money import CENT


def split_amount(total: Decimal, count: int) -> list[Decimal]:
    """``count`` parts: each ``total / count`` rounded down to the cent, the last takes the remainder.

    1000.00 / 3 -> 333.33, 333.33, 333.34. The parts always sum to ``total`` exactly.
    """
    if count < 1:
        raise ValueError("count must be positive")
    base = (total / count).quantize(CENT, rounding=ROUND_DOWN)
    return [base] * (count - 1) + [total - base * (count - 1)]


def due_dates(start: date, count: int) -> list[date]:
    """Installment k is due ``start + k months``, counted from ``start`` each time.

    relativedelta clamps to the month's length: 31 Jan -> 28/29 Feb, 31 Mar, 30 Apr.
    """
    return [start + relativedelta(months=k) for k in range(1, count + 1)]
