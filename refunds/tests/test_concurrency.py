"""Real concurrency on PostgreSQL: threads with their own connections, committed data."""

import pytest
from django.db.models import Sum

from bnpl.testing.concurrency import race
from plans.models import Plan
from plans.tests.factories import make_plan, minor
from refunds.models import Refund, RefundStatus
from refunds.services import refund_approve
from refunds.tests.factories import make_refund

pytestmark = pytest.mark.django_db(transaction=True)

DECIDED = {"approve": RefundStatus.APPROVED, "reject": RefundStatus.REJECTED, "cancel": RefundStatus.CANCELLED}


def test_twenty_racing_decisions_exactly_one_wins(make_api, merchant):
    plan = make_plan(merchant=merchant, total_amount="900.00")
    refund = make_refund(plan=plan, amount="300.00")
    operator, merchant_key, client = (make_api("operator"), make_api("merchant", merchant=merchant),
                                      make_api("client"))
    # (who, what): every decision each role may take, spread over 20 threads.
    calls = [(operator, "approve"), (merchant_key, "approve"), (operator, "reject"), (merchant_key, "reject"),
             (operator, "cancel"), (client, "cancel")]
    plan_calls = [calls[i % len(calls)] for i in range(20)]

    responses = race(20, lambda i: plan_calls[i][0].post(f"/api/v1/refunds/{refund.pk}/{plan_calls[i][1]}/"))

    assert not [r for r in responses if isinstance(r, Exception)], responses
    winners = [i for i, r in enumerate(responses) if r.status_code == 200]
    assert len(winners) == 1, [r.status_code for r in responses]
    losers = [r for r in responses if r.status_code != 200]
    assert len(losers) == 19 and all(r.status_code == 409 and r.json()["code"] == "invalid_state" for r in losers)
    action = plan_calls[winners[0]][1]
    refund.refresh_from_db()
    assert refund.status == DECIDED[action]
    plan.refresh_from_db()
    assert plan.refunded_amount == (minor("300.00") if action == "approve" else minor("0.00"))
    assert (refund.applied_amount is not None) == (action == "approve")


def test_concurrent_creations_never_exceed_the_plan_total(client_api, merchant):
    plan = make_plan(merchant=merchant, total_amount="1000.00")
    refund_approve(refund=make_refund(plan=plan, amount="100.00"), decided_by="t")  # 900.00 left

    responses = race(10, lambda i: client_api.post("/api/v1/refunds/", {
        "plan_id": str(plan.pk), "transaction_id": f"race-{i}", "amount": "150.00"}))

    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 6 + [409] * 4, codes
    assert all(r.json()["code"] == "refund_exceeds_refundable" for r in responses if r.status_code == 409)
    reserved = Refund.objects.filter(plan=plan, status__in=[RefundStatus.PENDING, RefundStatus.APPROVED]) \
        .aggregate(total=Sum("amount"))["total"]
    assert reserved == minor("1000.00")


def test_concurrent_same_transaction_same_request_creates_one(client_api, merchant):
    plan = make_plan(merchant=merchant)
    body = {"plan_id": str(plan.pk), "transaction_id": "same", "amount": "10.00"}

    responses = race(8, lambda i: client_api.post("/api/v1/refunds/", body))

    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert Refund.objects.count() == 1


def test_concurrent_same_transaction_on_two_plans_of_one_merchant(client_api, merchant):
    plans = [make_plan(merchant=merchant), make_plan(merchant=merchant)]

    responses = race(6, lambda i: client_api.post("/api/v1/refunds/", {
        "plan_id": str(plans[i % 2].pk), "transaction_id": "shared", "amount": "10.00"}))

    created = [r for r in responses if r.status_code == 201]
    assert len(created) == 1, [r.status_code for r in responses]
    winner_plan = created[0].json()["plan_id"]
    for i, r in enumerate(responses):
        if r.status_code != 201:
            same_plan = str(plans[i % 2].pk) == winner_plan
            assert (r.status_code, r.json().get("code")) == ((200, None) if same_plan else
                                                             (409, "duplicate_transaction")), r.content
    assert Refund.objects.count() == 1
    assert Plan.objects.get(pk=winner_plan).refunds.count() == 1
