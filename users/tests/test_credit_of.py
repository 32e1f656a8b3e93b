"""``with_credit_of`` (one user, one fixed statement) against ``with_credit`` (the ORM annotation)."""
import random

import pytest

from plans.models import Installment
from plans.tests.factories import make_plan
from users.locks import user_lock
from users.models import Customer
from users.selectors import user_queryset, with_credit, with_credit_of
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.money]


@pytest.mark.parametrize("seed", range(3))
def test_equals_with_credit(seed):
    rng = random.Random(seed)
    user = CustomerFactory.create()
    Customer.objects.filter(pk=user.pk).update(credit_limit=10**12)
    CustomerFactory()  # someone else's plans are not this user's debt
    for _ in range(rng.randint(1, 3)):
        make_plan(user=user, total_amount=rng.randint(3, 10**7), installment_count=rng.randint(3, 12))
    make_plan(total_amount=123456)
    # Installments part paid, refunded, with fees assessed and waived.
    for installment in Installment.objects.filter(user=user):
        fee = rng.randint(0, 5000)
        paid = rng.randint(0, installment.amount // 2)
        Installment.objects.filter(pk=installment.pk).update(
            paid_amount=paid + fee // 2, fee_amount=fee, fee_paid_amount=fee // 2, fee_waived_amount=fee // 4,
            refunded_amount=rng.randint(0, installment.amount // 3))
    Customer.objects.filter(pk=user.pk).update(credit_limit=rng.randint(0, 10**7))

    expected = with_credit(queryset=user_queryset().filter(pk=user.pk)).get()
    shown = with_credit_of(user=user_lock(user.pk))
    assert shown.outstanding_amount == expected.outstanding_amount > 0
    assert shown.available_credit == expected.available_credit
    assert shown is not user


def test_a_user_without_installments_owes_nothing():
    user = CustomerFactory.create()
    Customer.objects.filter(pk=user.pk).update(credit_limit=500)
    user.refresh_from_db()
    shown = with_credit_of(user=user)
    assert shown.outstanding_amount == 0 and shown.available_credit == 500


@pytest.mark.parametrize("seed", range(3))
def test_what_a_user_owes_is_every_installments_outstanding_amount(seed):
    """``with_credit`` and ``with_credit_of`` sum the open installments only (the ones their index
    carries): equal to the sum over all of them, paid and cancelled included, which owe exactly 0
    (the database's ``installment_status_matches_outstanding``)."""
    rng = random.Random(seed)
    user = CustomerFactory.create()
    Customer.objects.filter(pk=user.pk).update(credit_limit=10**12)
    for _ in range(rng.randint(2, 4)):
        make_plan(user=user, total_amount=rng.randint(300, 10**7), installment_count=rng.randint(3, 12))
    installments = list(Installment.objects.filter(user=user))
    shapes = ["PAID", "CANCELLED", "OVERDUE with a fee"] + [
        rng.choice(["PAID", "CANCELLED", "part paid", "OVERDUE with a fee", "UPCOMING"]) for _ in installments[3:]]
    for installment, shape in zip(installments, shapes, strict=True):
        fee = rng.randint(0, 5000)
        if shape == "PAID":  # the principal and the fee paid, part of it refunded first
            refunded = rng.randint(0, installment.amount // 2)
            changes = dict(status="PAID", fee_amount=fee, fee_paid_amount=fee, refunded_amount=refunded,
                           paid_amount=installment.amount - refunded + fee)
        elif shape == "CANCELLED":  # returned: refunds alone covered it, the fee waived
            changes = dict(status="CANCELLED", refunded_amount=installment.amount, fee_amount=fee,
                           fee_waived_amount=fee)
        elif shape == "part paid":
            changes = dict(paid_amount=rng.randint(1, installment.amount - 1))
        elif shape == "OVERDUE with a fee":
            changes = dict(status="OVERDUE", fee_amount=fee, fee_waived_amount=fee // 3)
        else:
            changes = {}
        Installment.objects.filter(pk=installment.pk).update(**changes)
    statuses = set(Installment.objects.filter(user=user).values_list("status", flat=True))
    assert {"PAID", "CANCELLED", "OVERDUE"} <= statuses
    expected = sum(i.outstanding_amount for i in Installment.objects.filter(user=user))

    assert with_credit(queryset=user_queryset().filter(pk=user.pk)).get().outstanding_amount == expected
    assert with_credit_of(user=user_lock(user.pk)).outstanding_amount == expected
