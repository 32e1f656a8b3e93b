"""Queries per request for every endpoint bench/api.py measures, with a key already verified.

The key's row is read once and then cached in Redis (``bnpl.authentication``), so a warm
request spends no query on it; these bounds hold that, endpoint by endpoint, with an
``Idempotency-Key`` on every POST (its lock, lookup, savepoints and record included).
"""
import pytest

from merchants.tests.factories import MerchantFactory
from plans.tests.factories import make_plan
from users.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def warm(client_api):
    assert client_api.get("/api/v1/merchants/").status_code == 200  # the key is now cached
    return client_api


def test_reads(warm, django_assert_max_num_queries):
    merchant = MerchantFactory()
    plan = make_plan(merchant=merchant, installment_count=12)
    reads = {
        f"/api/v1/merchants/{merchant.pk}/": 1,
        f"/api/v1/users/{plan.user_id}/": 1,
        "/api/v1/users/": 1,
        f"/api/v1/plans/{plan.pk}/": 2,
        f"/api/v1/plans/?user_id={plan.user_id}": 2,
        f"/api/v1/debt/{plan.user_id}/": 2,
    }
    for url, bound in reads.items():
        with django_assert_max_num_queries(bound):
            assert warm.get(url).status_code == 200, url


def test_writes(warm, django_assert_max_num_queries):
    merchant, user = MerchantFactory(), CustomerFactory()
    # 16 in v1, one for the credit and open-plan limits (§12), one statement for the journal (§11),
    # and plan.created (§14): its installments read for the representation and one INSERT.
    with django_assert_max_num_queries(16 + 1 + 1 + 2):
        r = warm.post("/api/v1/plans/", {"user_id": str(user.pk), "merchant_id": str(merchant.pk),
                                         "total_amount": "1200.00", "installment_count": 12},
                      HTTP_IDEMPOTENCY_KEY="q-plan")
    assert r.status_code == 201, r.content
    plan_id, user_id = r.json()["id"], r.json()["user_id"]
    # 17 in v1, and refund.created is one INSERT into the outbox (§14). A pending refund has no
    # allocations or payout in the ledger yet (§7 v1.1), so showing it reads none.
    with django_assert_max_num_queries(17 + 1):
        r = warm.post("/api/v1/refunds/", {"plan_id": plan_id, "transaction_id": "q-tx", "amount": "0.01"},
                      HTTP_IDEMPOTENCY_KEY="q-refund")
    assert r.status_code == 201, r.content
    # 20 in v1, one statement for the journal (§11) and one INSERT of repayment.created (§14).
    with django_assert_max_num_queries(20 + 1 + 1):
        r = warm.post(f"/api/v1/debt/{user_id}/", {"amount": "0.01"}, HTTP_IDEMPOTENCY_KEY="q-repay")
    assert r.status_code == 201, r.content
