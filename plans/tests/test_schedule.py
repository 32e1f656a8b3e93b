"""The split and the due dates (API.md §5): properties, then the worked examples."""
import calendar
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plans.schedule import due_dates, split_amount
from plans.tests.factories import make_plan

BOUNDED = settings(max_examples=200, deadline=None)
pytestmark = pytest.mark.money


@st.composite
def totals_and_counts(draw):
    count = draw(st.integers(min_value=3, max_value=12))
    total_cents = draw(st.integers(min_value=max(3, count), max_value=10**14 - 1))
    return total_cents, count


@BOUNDED
@given(totals_and_counts())
def test_split_sums_exactly_all_positive_last_takes_remainder(case):
    total, count = case
    parts = split_amount(total, count)
    assert len(parts) == count
    assert sum(parts) == total
    assert all(isinstance(part, int) and part > 0 for part in parts)
    assert all(part == parts[0] for part in parts[:-1])
    assert parts[-1] >= parts[0]
    assert parts[-1] - parts[0] < count


@BOUNDED
@given(st.dates(min_value=date(1901, 1, 1), max_value=date(2199, 12, 31)), st.integers(min_value=3, max_value=12))
def test_due_dates_monthly_clamped_to_month_length(start, count):
    dues = due_dates(start, count)
    assert len(dues) == count
    assert all(a < b for a, b in zip([start, *dues], dues, strict=False))
    for k, due in enumerate(dues, start=1):
        months = start.year * 12 + start.month - 1 + k
        year, month = divmod(months, 12)
        assert (due.year, due.month) == (year, month + 1)
        assert due.day == min(start.day, calendar.monthrange(year, month + 1)[1])


@BOUNDED
@given(st.sampled_from([29, 30, 31]), st.integers(min_value=1990, max_value=2100), st.integers(3, 12))
def test_due_dates_from_month_ends_never_drift(day, year, count):
    """Counted from the start each time: 31 Jan -> 29 Feb -> 31 Mar, never 29 Mar."""
    start = date(year, 1, day)
    for k, due in enumerate(due_dates(start, count), start=1):
        assert due.day == min(day, calendar.monthrange(due.year, due.month)[1])
        assert (due.year, due.month) == (year + k // 12, 1 + k % 12)


# --- Worked examples (API.md §5) ---------------------------------------------------------------

def test_split_1000_by_3():
    assert split_amount(100_000, 3) == [33_333, 33_333, 33_334]


def test_due_dates_clamp_from_31_jan_leap_year():
    assert due_dates(date(2024, 1, 31), 4) == [date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30),
                                               date(2024, 5, 31)]


@pytest.mark.django_db
def test_plan_create_writes_installments():
    plan = make_plan(start_date=date(2025, 1, 31))
    assert [i.amount for i in plan.installments.all()] == [33_333] * 2 + [33_334]
    assert [i.amount for i in plan.installments.order_by("sequence")][-1] == 33_334
