"""Debt test data: users with plans at a known point of their schedules."""
from collections.abc import Callable
from datetime import date

from plans.models import Plan
from plans.tests.factories import make_plan
from users.models import Customer
from users.tests.factories import CustomerFactory


def user_with_two_plans(business_day: Callable[[date], object]) -> tuple[Customer, Plan, Plan]:
    """A user with plan A (1000.00/3 from 31 Jan 2025: due 28 Feb, 31 Mar, 30 Apr) and plan B
    (600.00/3 from 10 Feb 2025: due 10 Mar, 10 Apr, 10 May), seen on 15 Mar 2025: A1 (333.33) and
    B1 (200.00) are past due, A2 is next. ``business_day`` is the root conftest's fixture."""
    business_day(date(2025, 1, 31))
    user = CustomerFactory.create()
    plan_a = make_plan(user=user, start_date=date(2025, 1, 31))
    business_day(date(2025, 2, 10))
    plan_b = make_plan(user=user, total_amount="600.00", start_date=date(2025, 2, 10))
    business_day(date(2025, 3, 15))
    return user, plan_a, plan_b
