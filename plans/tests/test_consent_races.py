"""Racing plan creations and confirmations for one user never get past its limits (API.md §12).

Real threads, each with its own connection and API client, against PostgreSQL: both limits are
checked under the user's row lock, which every creation and confirmation takes first.
"""
import pytest
from django.test import override_settings

from bnpl.models import Role
from bnpl.testing.concurrency import race
from conftest import bearer_client
from merchants.tests.factories import MerchantFactory
from plans.models import Plan, PlanStatus
from plans.tests.test_consent import URL, body, checkout
from users.models import Customer
from users.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db(transaction=True)


@override_settings(BNPL_MAX_OPEN_PLANS=3)
def test_racing_creations_and_confirmations_never_exceed_the_open_plans_cap(make_api):
    user, merchant = CustomerFactory(), MerchantFactory()
    client = make_api(Role.CLIENT)
    merchant_key = make_api(Role.MERCHANT, merchant=merchant)
    pending = [checkout(merchant_key, user, merchant)["id"] for _ in range(2)]

    def attempt(i: int):
        api = bearer_client(client.raw_key)
        if i < 2:
            return api.post(f"{URL}{pending[i]}/confirm/").status_code
        return api.post(URL, body(user, merchant, total_amount="10.00")).status_code

    statuses = race(8, attempt)

    assert statuses[:2] == [200, 200]  # the confirmations never add an open plan
    assert sorted(statuses[2:]) == [201] + [409] * 5
    assert Plan.objects.filter(user=user, status=PlanStatus.ACTIVE).count() == 3


def test_racing_creations_and_confirmations_never_exceed_the_credit_limit(make_api):
    user, merchant = CustomerFactory(), MerchantFactory()
    Customer.objects.filter(pk=user.pk).update(credit_limit=100_000)  # 1000.00
    client = make_api(Role.CLIENT)
    merchant_key = make_api(Role.MERCHANT, merchant=merchant)
    pending = [checkout(merchant_key, user, merchant, total_amount="300.00")["id"] for _ in range(3)]

    def attempt(i: int):
        api = bearer_client(client.raw_key)
        if i < 3:
            return api.post(f"{URL}{pending[i]}/confirm/").status_code
        return api.post(URL, body(user, merchant, total_amount="300.00")).status_code

    statuses = race(6, attempt)

    # 300 each against 1000: exactly three of the six get through, whoever wins.
    assert statuses.count(409) == 3 and statuses.count(200) + statuses.count(201) == 3
    owed = sum(p.total_amount for p in Plan.objects.filter(user=user, status=PlanStatus.ACTIVE))
    assert owed == 90_000 <= 100_000
