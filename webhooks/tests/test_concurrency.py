"""Real concurrency on PostgreSQL: a webhook racing the API, and racing redeliveries."""

import pytest

from bnpl.testing.concurrency import race
from plans.models import Plan
from plans.tests.factories import make_plan, minor
from refunds.models import Refund, RefundStatus
from refunds.tests.factories import make_refund
from webhooks.models import EventStatus, WebhookEvent
from webhooks.tests.factories import post_webhook, webhook_body

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("round_", range(3))
def test_webhook_and_api_approval_racing_have_exactly_one_effect(anon_api, operator_api, merchant, round_):
    plan = make_plan(merchant=merchant, total_amount="1000.00")
    refund = make_refund(plan=plan, amount="400.00")
    body = webhook_body(merchant=merchant, refund=refund, status="APPROVED")

    def act(i):
        if i == 0:  # the event commits, then its on_commit enqueue runs the task (eagerly) in this thread
            return post_webhook(anon_api, merchant=merchant, body=body, msg_id=f"msg_race_{round_}")
        return operator_api.post(f"/api/v1/refunds/{refund.pk}/approve/")

    webhook, api = race(2, act)

    assert webhook.status_code == 202, webhook.content
    event = WebhookEvent.objects.get(webhook_id=f"msg_race_{round_}")
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED
    if api.status_code == 200:
        assert (event.status, event.status_reason) == (EventStatus.IGNORED, "refund already APPROVED")
        assert refund.decided_by == f"api_key:{operator_api.api_key.pk}"
    else:
        assert api.status_code == 409 and api.json()["code"] == "invalid_state"
        assert event.status == EventStatus.PROCESSED and refund.decided_by == f"webhook:{event.pk}"
    assert Plan.objects.get(pk=plan.pk).refunded_amount == minor("400.00")


def test_racing_redeliveries_of_one_webhook_store_and_apply_once(anon_api, merchant):
    plan = make_plan(merchant=merchant, total_amount="1000.00")
    refund = make_refund(plan=plan, amount="250.00")
    body = webhook_body(merchant=merchant, refund=refund, status="APPROVED")

    responses = race(6, lambda i: post_webhook(anon_api, merchant=merchant, body=body, msg_id="msg_redelivered"))

    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 5 + [202], codes
    assert all(r.json() == {"id": "msg_redelivered", "status": "duplicate"} for r in responses if r.status_code == 200)
    assert WebhookEvent.objects.get().status == EventStatus.PROCESSED
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.APPROVED
    assert Plan.objects.get(pk=plan.pk).refunded_amount == minor("250.00")
