"""The processing task and the beat re-drive: idempotent, bounded, transient errors retried."""
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from bnpl.celery import app as celery_app
from plans.models import Plan
from plans.tests.factories import make_plan, minor
from refunds.models import Refund, RefundStatus
from refunds.tests.factories import make_refund
from webhooks import services, tasks
from webhooks.models import EventStatus, WebhookEvent
from webhooks.tests.factories import post_webhook, webhook_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_retries():
    """Eager tasks retry in-process only when failures are not propagated to the caller."""
    old = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = old


@pytest.fixture
def refund(merchant):
    return make_refund(plan=make_plan(merchant=merchant, total_amount="1000.00"), amount="100.00")


def _received(anon_api, merchant, refund, msg_id="msg_t", status="APPROVED", age_seconds=0) -> WebhookEvent:
    """A stored event whose enqueue never ran (as when the broker was down)."""
    r = post_webhook(anon_api, merchant=merchant, msg_id=msg_id,
                     body=webhook_body(merchant=merchant, refund=refund, status=status))
    assert r.status_code == 202
    event = WebhookEvent.objects.get(merchant=merchant, webhook_id=msg_id)
    if age_seconds:
        WebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(seconds=age_seconds))
    assert event.status == EventStatus.RECEIVED
    return event


def test_running_the_task_twice_applies_once(anon_api, merchant, refund):
    event = _received(anon_api, merchant, refund)

    assert tasks.process_webhook_event.delay(str(event.pk)).get() == EventStatus.PROCESSED
    assert tasks.process_webhook_event.delay(str(event.pk)).get() == EventStatus.PROCESSED

    event.refresh_from_db()
    assert event.attempts == 1  # the second run saw PROCESSED and did nothing
    assert Plan.objects.get(pk=refund.plan_id).refunded_amount == minor("100.00")


def test_transient_database_error_is_retried_then_applied(anon_api, merchant, refund, monkeypatch, eager_retries):
    event = _received(anon_api, merchant, refund)
    real_approve, calls = services.refund_approve, []

    def flaky_approve(**kwargs):
        calls.append(1)
        if len(calls) <= 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real_approve(**kwargs)

    monkeypatch.setattr(services, "refund_approve", flaky_approve)

    result = tasks.process_webhook_event.delay(str(event.pk))

    assert result.get() == EventStatus.PROCESSED and len(calls) == 3
    event.refresh_from_db()
    assert (event.status, event.attempts) == (EventStatus.PROCESSED, 3)
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.APPROVED


def test_retries_are_bounded_and_leave_the_event_for_the_redrive(anon_api, merchant, refund, monkeypatch,
                                                                 eager_retries):
    event = _received(anon_api, merchant, refund)
    calls = []

    def down(**kwargs):
        calls.append(1)
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(services, "refund_approve", down)

    result = tasks.process_webhook_event.delay(str(event.pk))

    assert result.failed() and isinstance(result.result, OperationalError)

    assert len(calls) == tasks.MAX_RETRIES + 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == (EventStatus.RECEIVED, tasks.MAX_RETRIES + 1)
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.PENDING


def test_unexpected_error_marks_the_event_failed_without_retrying(anon_api, merchant, refund, monkeypatch):
    event = _received(anon_api, merchant, refund)
    calls = []

    def broken(**kwargs):
        calls.append(1)
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "refund_approve", broken)

    assert tasks.process_webhook_event.delay(str(event.pk)).get() == "FAILED"

    assert len(calls) == 1
    event.refresh_from_db()
    assert (event.status, event.status_reason) == (EventStatus.FAILED, "error: RuntimeError")
    assert event.processed_at is not None
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.PENDING


def test_event_past_the_attempt_limit_is_given_up(anon_api, merchant, refund):
    event = _received(anon_api, merchant, refund)
    WebhookEvent.objects.filter(pk=event.pk).update(attempts=services.MAX_ATTEMPTS)

    assert tasks.process_webhook_event.delay(str(event.pk)).get() == EventStatus.FAILED

    event.refresh_from_db()
    assert event.status == EventStatus.FAILED
    assert event.status_reason == f"gave up after {services.MAX_ATTEMPTS} attempts"
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.PENDING


def test_unknown_event_id_is_harmless(db):
    assert tasks.process_webhook_event.delay("00000000-0000-0000-0000-000000000000").get() == "missing"


def test_redrive_applies_old_received_events_only(anon_api, merchant, refund):
    other = make_refund(plan=refund.plan, amount="50.00")
    old = _received(anon_api, merchant, refund, "msg_old", age_seconds=60)
    fresh = _received(anon_api, merchant, other, "msg_fresh")

    assert tasks.redrive_pending_events.delay().get() == 1

    statuses = dict(WebhookEvent.objects.values_list("webhook_id", "status"))
    assert statuses == {"msg_old": EventStatus.PROCESSED, "msg_fresh": EventStatus.RECEIVED}
    # Nothing left old enough: a second run sends nothing.
    assert tasks.redrive_pending_events.delay().get() == 0
    assert Refund.objects.get(pk=other.pk).status == RefundStatus.PENDING
    assert fresh.pk != old.pk


def test_redrive_works_in_bounded_batches_oldest_first(anon_api, merchant, refund):
    refunds = [make_refund(plan=refund.plan, amount="10.00") for _ in range(3)]
    for n, r in enumerate(refunds):
        _received(anon_api, merchant, r, f"msg_{n}", age_seconds=100 - n)

    assert tasks.redrive_pending_events.delay(batch_size=2).get() == 2

    statuses = dict(WebhookEvent.objects.values_list("webhook_id", "status"))
    assert statuses == {"msg_0": EventStatus.PROCESSED, "msg_1": EventStatus.PROCESSED,
                        "msg_2": EventStatus.RECEIVED}
    assert tasks.redrive_pending_events.delay(batch_size=2).get() == 1
    assert WebhookEvent.objects.filter(status=EventStatus.PROCESSED).count() == 3


def test_redrive_task_name_matches_the_beat_schedule(settings):
    assert settings.CELERY_BEAT_SCHEDULE["webhook-redrive"]["task"] == tasks.redrive_pending_events.name
    assert tasks.process_webhook_event.acks_late is True
