"""The installment schedule: how a total is split and when each part is due (API.md §5)."""
from datetime import date

from dateutil.relativedelta import relativedelta


def split_amount(total: int, count: int) -> list[int]:
    """``count`` parts of ``total`` minor units: each ``total / count`` rounded down to the minor
    unit, the last takes the remainder.

    100000 / 3 -> 33333, 33333, 33334 (1000.00 -> 333.33, 333.33, 333.34 in UZS). The parts
    always sum to ``total`` exactly.
    """
    if count < 1:
        raise ValueError("count must be positive")
    base = total // count
    return [base] * (count - 1) + [total - base * (count - 1)]


def due_dates(start: date, count: int) -> list[date]:
    """Installment k is due ``start + k months``, counted from ``start`` each time.

    relativedelta clamps to the month's length: 31 Jan -> 28/29 Feb, 31 Mar, 30 Apr.
    """
    return [start + relativedelta(months=k) for k in range(1, count + 1)]
