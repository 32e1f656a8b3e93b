"""Fault test: the broker is down when webhooks arrive; nothing is lost and nothing happens twice.

Phase 1 points the Celery app at a closed port (tasks no longer eager): every signed webhook
is still answered 202 at once and stored RECEIVED. Phase 2 brings a real broker (the Redis
at REDIS_URL) and a real worker process (production settings, test database); the beat
re-drive, run twice, applies each event exactly once.
"""
import time

import pytest
from django.conf import settings

from bnpl.celery import app as celery_app
from bnpl.testing.db import current_database_url
from bnpl.testing.processes import celery_broker, owned, start_celery_worker, wait_until
from plans.models import Plan
from plans.tests.factories import make_plan, minor
from refunds.models import Refund, RefundStatus
from refunds.tests.factories import make_refund
from webhooks.models import EventStatus, WebhookEvent
from webhooks.tasks import redrive_pending_events
from webhooks.tests.factories import post_webhook, webhook_body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CLOSED_PORT_BROKER = "redis://127.0.0.1:6391/0"


def test_webhooks_survive_a_broker_outage_and_are_applied_once_by_the_redrive(anon_api, merchant):
    plan = make_plan(merchant=merchant, total_amount="1000.00")
    r1, r2, r3 = (make_refund(plan=plan, amount=amount) for amount in ("100.00", "200.00", "300.00"))
    deliveries = [("msg_1", r1, "APPROVED"), ("msg_2", r2, "REJECTED"), ("msg_3", r3, "APPROVED"),
                  ("msg_4", r1, "REJECTED")]  # msg_4 is late: r1 is decided by msg_1 first

    # Phase 1: broker unreachable.
    with celery_broker(CLOSED_PORT_BROKER):
        for msg_id, refund, status in deliveries:
            started = time.monotonic()
            r = post_webhook(anon_api, merchant=merchant, msg_id=msg_id,
                             body=webhook_body(merchant=merchant, refund=refund, status=status))
            elapsed = time.monotonic() - started
            assert r.status_code == 202, r.content
            assert r.json() == {"id": msg_id, "status": "accepted"}
            assert elapsed < 1.5, f"publishing to a dead broker held the request for {elapsed:.2f}s"
        # The re-drive cannot publish either: it stops at the first failure, nothing changes.
        assert redrive_pending_events(min_age_seconds=0) == 0

    events = WebhookEvent.objects.order_by("received_at")
    assert [(e.webhook_id, e.status, e.attempts) for e in events] == \
        [(msg_id, EventStatus.RECEIVED, 0) for msg_id, _, _ in deliveries]
    assert set(Refund.objects.values_list("status", flat=True)) == {RefundStatus.PENDING}

    # Phase 2: the broker is back, with a real worker.
    with celery_broker(settings.CELERY_BROKER_URL), \
            owned(start_celery_worker(broker_url=settings.REDIS_URL,
                                      database_url=current_database_url(application_name="outage-worker"))) as worker:
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge("celery")  # our own Redis db: leftovers of earlier runs
        assert redrive_pending_events(min_age_seconds=0) == 4
        assert redrive_pending_events(min_age_seconds=0) <= 4  # whatever is still RECEIVED goes again

        wait_until(lambda: not WebhookEvent.objects.filter(status=EventStatus.RECEIVED).exists(), timeout=30,
                   interval=0.1, message="the worker did not drain the events")
        assert worker.alive(), "the worker did not drain the events"
        # Let the second batch of messages reach the worker too: they must change nothing.
        time.sleep(0.5)

    statuses = {e.webhook_id: (e.status, e.status_reason, e.attempts) for e in WebhookEvent.objects.all()}
    assert statuses == {
        "msg_1": (EventStatus.PROCESSED, "", 1),
        "msg_2": (EventStatus.PROCESSED, "", 1),
        "msg_3": (EventStatus.PROCESSED, "", 1),
        "msg_4": (EventStatus.IGNORED, "refund already APPROVED", 1),
    }
    by_id = {e.webhook_id: e for e in WebhookEvent.objects.all()}
    for refund, status, msg_id in ((r1, RefundStatus.APPROVED, "msg_1"), (r2, RefundStatus.REJECTED, "msg_2"),
                                   (r3, RefundStatus.APPROVED, "msg_3")):
        refund.refresh_from_db()
        assert (refund.status, refund.decided_by) == (status, f"webhook:{by_id[msg_id].pk}")
    # Applied exactly once: 100.00 + 300.00, not twice.
    assert Plan.objects.get(pk=plan.pk).refunded_amount == minor("400.00")
