"""``plan_standing``'s SQL against the model's own reading of the same plans, on both databases.

The statement counts the plans ``Plan.current_status`` calls ACTIVE or PENDING_CONFIRMATION and
sums what the ACTIVE ones owe; every status, a checkout either side of its expiry, amounts in
every column and the plan a confirmation excludes are here.
"""
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from merchants.tests.factories import MerchantFactory
from plans.models import Plan, PlanStatus
from plans.selectors import plan_standing
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.money]


def _reading(plans: list[Plan], *, excluded=None) -> tuple[int, int]:
    now = timezone.now()
    open_plans = sum(1 for p in plans if p.current_status(now) in (PlanStatus.ACTIVE, PlanStatus.PENDING_CONFIRMATION)
                     and p.pk != excluded)
    outstanding = sum(p.total_amount + p.fee_amount - p.fee_waived_amount - p.paid_amount - p.refunded_amount
                      for p in plans if p.status == PlanStatus.ACTIVE)
    return open_plans, outstanding


@pytest.mark.parametrize("seed", range(4))
def test_standing_equals_the_models_reading(seed):
    rng = random.Random(seed)
    user, other, merchant = CustomerFactory(), CustomerFactory(), MerchantFactory()
    now = timezone.now()
    plans = []
    for _ in range(12):
        status = rng.choice(PlanStatus.values)
        total, fee = rng.randint(3, 10**9), rng.randint(0, 10**6)
        refunded = rng.randint(0, total // 3)
        if status == PlanStatus.ACTIVE:  # something still owed
            principal_paid, fee_paid, waived = rng.randint(0, total // 3), fee // 2, fee // 4
        elif status == PlanStatus.COMPLETED:  # nothing owed: the rest paid, fees paid or waived
            principal_paid, fee_paid, waived = total - refunded, fee - fee // 4, fee // 4
        else:  # a checkout owes nothing and was paid nothing
            total_fields = {"paid_amount": 0, "refunded_amount": 0, "fee_amount": 0}
        if status in (PlanStatus.ACTIVE, PlanStatus.COMPLETED):
            total_fields = {"paid_amount": principal_paid + fee_paid, "refunded_amount": refunded, "fee_amount": fee,
                            "fee_paid_amount": fee_paid, "fee_waived_amount": waived}
        expires = now + timedelta(minutes=rng.choice([-30, -1, 1, 30])) \
            if status == PlanStatus.PENDING_CONFIRMATION else None
        plans.append(Plan.objects.create(user=user, merchant=merchant, total_amount=total, installment_count=3,
                                         start_date=now.date(), status=status, expires_at=expires, **total_fields))
    # Another user's plans count for nobody else.
    Plan.objects.create(user=other, merchant=merchant, total_amount=500, installment_count=3,
                        start_date=now.date(), status=PlanStatus.ACTIVE)

    standing = plan_standing(user_id=user.pk)
    assert (standing.open_plans, standing.outstanding) == _reading(plans)
    pending = [p for p in plans if p.current_status() == PlanStatus.PENDING_CONFIRMATION] or plans
    excluded = pending[0].pk
    standing = plan_standing(user_id=user.pk, exclude_plan_id=excluded)
    assert (standing.open_plans, standing.outstanding) == _reading(plans, excluded=excluded)


def test_a_user_without_plans_has_nothing_open_and_owes_nothing():
    assert plan_standing(user_id=CustomerFactory().pk) == plan_standing(user_id=CustomerFactory().pk)
    standing = plan_standing(user_id=CustomerFactory().pk)
    assert (standing.open_plans, standing.outstanding) == (0, 0)
