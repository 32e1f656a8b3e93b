from datetime import date

import pytest

from plans.schedule import due_dates, split_amount
from plans.tests.factories import make_plan


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
