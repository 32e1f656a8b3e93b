"""Fault tests (issue 6): Redis crashes under webhook traffic; a worker is SIGKILLed mid-event.

Real processes only: a private redis-server per test (never the shared one), real
``celery -A bnpl worker`` processes with the production settings on the test database.
The contract: every accepted webhook is stored, and applied exactly once in the end.
"""
import time
from collections import defaultdict

import pytest
from django.db.models import Sum

from bnpl.testing.db import current_database_url, database_backends, held_transaction
from bnpl.testing.processes import celery_broker, owned, redis_server, start_celery_worker, wait_until
from plans.models import Installment, Plan
from plans.tests.factories import make_plan, minor
from refunds.models import Refund, RefundStatus
from refunds.tests.factories import make_refund
from users.models import Customer
from webhooks.models import EventStatus, WebhookEvent
from webhooks.tasks import redrive_pending_events
from webhooks.tests.factories import post_webhook, webhook_body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WORKER_DB_NAME = "faults-worker"
ANSWER_WITHIN_S = 1.5  # a webhook is answered at once, broker or no broker


def _send(anon_api, merchant, msg_id: str, refund: Refund, status: str, *, expect: int = 202) -> None:
    started = time.monotonic()
    r = post_webhook(anon_api, merchant=merchant, msg_id=msg_id,
                     body=webhook_body(merchant=merchant, refund=refund, status=status))
    elapsed = time.monotonic() - started
    assert r.status_code == expect, r.content
    assert r.json()["id"] == msg_id
    assert elapsed < ANSWER_WITHIN_S, f"{msg_id} held for {elapsed:.2f}s"


def _redrive_and_check_drained() -> bool:
    """One beat tick of the re-drive (without its age delay); True once nothing is RECEIVED."""
    redrive_pending_events(min_age_seconds=0)
    return not WebhookEvent.objects.filter(status=EventStatus.RECEIVED).exists()


def test_webhooks_across_a_redis_crash_and_restart_are_all_applied_once(anon_api, merchant):
    # Given 30 pending refunds over 3 plans, and a worker consuming from a private Redis.
    plans = [make_plan(merchant=merchant, total_amount="1000.00") for _ in range(3)]
    refunds = [make_refund(plan=plans[i % 3], amount=f"{10 + i}.00") for i in range(30)]
    decision = {r.pk: RefundStatus.REJECTED if i % 4 == 0 else RefundStatus.APPROVED for i, r in enumerate(refunds)}
    accepted: dict[str, Refund] = {}

    def send(i: int) -> None:
        msg_id = f"crash-{i}"
        _send(anon_api, merchant, msg_id, refunds[i], decision[refunds[i].pk])
        accepted[msg_id] = refunds[i]

    with redis_server() as broker, celery_broker(broker.url), \
            owned(start_celery_worker(broker_url=broker.url,
                                      database_url=current_database_url(application_name=WORKER_DB_NAME))) as worker:
        for i in range(10):
            send(i)
        # When Redis crashes (SIGKILL, nothing persisted: queued and unacked messages are gone)...
        broker.kill()
        for i in range(10, 20):
            send(i)
        # ... webhooks are still answered at once, stored, and redeliveries still recognised.
        for i in (10, 15):
            _send(anon_api, merchant, f"crash-{i}", refunds[i], decision[refunds[i].pk], expect=200)
        outage = WebhookEvent.objects.filter(webhook_id__in=[f"crash-{i}" for i in range(10, 20)])
        assert sorted(outage.values_list("status", "attempts")) == [(EventStatus.RECEIVED, 0)] * 10

        # Then Redis comes back (empty) on the same port, traffic goes on, and the beat re-drive
        # (run here as beat would, without its age delay) re-enqueues whatever is still RECEIVED.
        broker.start()
        for i in range(20, 30):
            send(i)
        wait_until(_redrive_and_check_drained, timeout=40, interval=0.5, message="every event processed")
        assert worker.alive(), "the worker did not survive the Redis restart"
        assert redrive_pending_events(min_age_seconds=0) == 0  # nothing left to re-drive

    # No event lost, none duplicated: one row per accepted webhook-id, each PROCESSED by one run.
    events = {e.webhook_id: e for e in WebhookEvent.objects.all()}
    assert set(events) == set(accepted) and len(accepted) == 30
    assert {(e.status, e.status_reason, e.attempts) for e in events.values()} == {(EventStatus.PROCESSED, "", 1)}
    # Each refund decided once, by its own event.
    for msg_id, refund in accepted.items():
        refund.refresh_from_db()
        assert (refund.status, refund.decided_by) == (decision[refund.pk], f"webhook:{events[msg_id].pk}")
    # Applied once: each plan's refunded amount is exactly its approved refunds, on the plan and installments.
    approved = defaultdict(int)
    for refund in Refund.objects.filter(status=RefundStatus.APPROVED):
        assert refund.applied_amount == refund.amount
        approved[refund.plan_id] += refund.applied_amount
    for plan in Plan.objects.all():
        assert plan.refunded_amount == approved[plan.pk] > 0
        assert Installment.objects.filter(plan=plan).aggregate(s=Sum("refunded_amount"))["s"] == approved[plan.pk]


@pytest.mark.parametrize("recovery", ["broker_redelivery", "redrive"])
def test_a_worker_killed_mid_event_leaves_it_to_be_processed_once_after_restart(anon_api, merchant, recovery):
    """SIGKILL while the task waits inside the refund service, holding the event's row lock.

    ``broker_redelivery``: the unacknowledged message (acks_late) comes back to the new worker
    after the visibility timeout (shortened here). ``redrive``: with the production timeout the
    message stays parked in Redis, and the beat re-drive is what gets the event processed.
    """
    plan = make_plan(merchant=merchant, total_amount="900.00")
    refund = make_refund(plan=plan, amount="300.00")
    worker_db = current_database_url(application_name=WORKER_DB_NAME)
    fast_restore = ({"BNPL_BROKER_VISIBILITY_TIMEOUT": "1", "BNPL_BROKER_RESTORE_INTERVAL": "1",
                     "BNPL_BROKER_RESTORE_THROTTLE": "1"} if recovery == "broker_redelivery" else {})

    with redis_server() as broker, celery_broker(broker.url):
        # The refund service locks the user first: holding that lock parks the task inside it,
        # after it has counted its attempt and locked the event.
        with held_transaction(lambda: Customer.objects.select_for_update().get(pk=plan.user_id)):
            with owned(start_celery_worker(broker_url=broker.url, database_url=worker_db, **fast_restore)) as worker:
                _send(anon_api, merchant, "kill-1", refund, RefundStatus.APPROVED)
                event = WebhookEvent.objects.get(webhook_id="kill-1")
                wait_until(lambda: database_backends(WORKER_DB_NAME, waiting_on_lock=True), timeout=15,
                           message="the worker blocked in the refund service")
                event.refresh_from_db()
                assert (event.status, event.attempts) == (EventStatus.RECEIVED, 1)
                orphans = database_backends(WORKER_DB_NAME)
                worker.kill()  # SIGKILL: no ack, no reject, no cleanup
                assert not worker.alive()
        # Our lock is released: the dead worker's transaction (event lock included) is rolled back by
        # PostgreSQL as soon as its backend finds the client gone.
        wait_until(lambda: not set(orphans) & set(database_backends(WORKER_DB_NAME)), timeout=10,
                   message="the dead worker's connections closed")
        event.refresh_from_db()
        refund.refresh_from_db()
        assert (event.status, refund.status) == (EventStatus.RECEIVED, RefundStatus.PENDING)
        assert broker.client().hlen("unacked") == 1  # the message was taken and never acknowledged

        with owned(start_celery_worker(broker_url=broker.url, database_url=worker_db, **fast_restore)):
            if recovery == "redrive":
                assert redrive_pending_events(min_age_seconds=0) == 1
            wait_until(lambda: WebhookEvent.objects.filter(pk=event.pk, status=EventStatus.PROCESSED).exists(),
                       timeout=20, message="the event processed after the restart")
            if recovery == "broker_redelivery":
                wait_until(lambda: broker.client().hlen("unacked") == 0, timeout=5, message="message acknowledged")
            else:
                # The killed delivery stays parked until the 10-minute timeout (then finds the event PROCESSED).
                wait_until(lambda: broker.client().hlen("unacked") == 1, timeout=5, message="re-drive acknowledged")

    event.refresh_from_db()
    refund.refresh_from_db()
    assert (event.status, event.status_reason, event.attempts) == (EventStatus.PROCESSED, "", 2)
    assert (refund.status, refund.decided_by, refund.applied_amount) == \
        (RefundStatus.APPROVED, f"webhook:{event.pk}", minor("300.00"))
    assert Plan.objects.get(pk=plan.pk).refunded_amount == minor("300.00")
