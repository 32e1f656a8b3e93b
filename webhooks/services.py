"""The only writers of the webhook inbox.

A verified event is stored first (the durable part), then applied by a Celery task
through the refund services. The task and the beat re-drive may run it any number of
times: the event row's lock and its status make the effect happen once.
"""
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from uuid import UUID

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from bnpl.errors import InvalidState, ObjectNotFound, ValidationFailed
from merchants.models import Merchant
from refunds.models import Refund, RefundStatus
from refunds.services import refund_approve, refund_reject
from webhooks.models import WEBHOOK_ID_MAX_LENGTH, EventStatus, WebhookEvent
from webhooks.selectors import merchant_refund

# Runs of one event (first delivery, task retries, re-drives) before it is marked FAILED.
MAX_ATTEMPTS = 10
REFUND_STATUS_CHANGED = "refund.status_changed"


# What enqueues an event's processing once its row is committed: ``tasks.enqueue_event_processing``,
# registered by ``WebhooksConfig.ready()`` (the tasks module imports this one, so not the other way).
_enqueue_processing: Callable[[UUID], bool] | None = None


def register_event_processing(enqueue: Callable[[UUID], bool]) -> None:
    """Called from ``WebhooksConfig.ready()``. Registering twice replaces (autoreload)."""
    global _enqueue_processing
    _enqueue_processing = enqueue


class RefundNotFound(ObjectNotFound):
    default_detail = "No such refund for this merchant."


@dataclass(frozen=True)
class WebhookReceipt:
    event: WebhookEvent
    created: bool  # False: this webhook-id was already received from this merchant

    @property
    def status(self) -> str:
        return "accepted" if self.created else "duplicate"


def webhook_receive(*, merchant: Merchant, webhook_id: str, status: str, refund_id: UUID | None = None,
                    transaction_id: str | None = None, reason: str = "", sent_at: str | None = None) -> WebhookReceipt:
    """Store a verified ``refund.status_changed`` event for the merchant's refund, once per webhook-id.

    The caller verified the signature and the body's shape. The refund must be the merchant's
    (404 otherwise). A redelivery (the same webhook-id from the same merchant) stores nothing:
    the unique constraint decides, so racing redeliveries are told ``duplicate`` too.
    """
    if len(webhook_id) > WEBHOOK_ID_MAX_LENGTH:
        raise ValidationFailed("webhook-id", f"At most {WEBHOOK_ID_MAX_LENGTH} characters.", "max_length")
    refund = merchant_refund(merchant=merchant, refund_id=refund_id, transaction_id=transaction_id)
    if refund is None:
        raise RefundNotFound()
    payload = {"type": REFUND_STATUS_CHANGED, "timestamp": sent_at,
               "data": {"merchant_id": str(merchant.pk), "refund_id": str(refund.pk),
                        "transaction_id": refund.transaction_id, "status": status, "reason": reason}}
    event, created = webhook_event_receive(merchant=merchant, webhook_id=webhook_id,
                                           event_type=REFUND_STATUS_CHANGED, payload=payload, refund=refund)
    return WebhookReceipt(event=event, created=created)


def webhook_event_receive(*, merchant: Merchant, webhook_id: str, event_type: str, payload: dict,
                          refund: Refund) -> tuple[WebhookEvent, bool]:
    """Store a verified event; returns ``(event, created)``. ``created`` is False for a redelivery.

    Processing is enqueued once the row is committed. A broker outage does not fail this:
    the event stays RECEIVED and the beat re-drive picks it up.
    """
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(merchant=merchant, webhook_id=webhook_id, event_type=event_type,
                                                payload=payload, refund=refund)
            if _enqueue_processing is None:
                raise ImproperlyConfigured("webhooks: no event processing registered (WebhooksConfig.ready)")
            transaction.on_commit(partial(_enqueue_processing, event.pk))
    except IntegrityError:
        # The unique (merchant, webhook_id) constraint decides between concurrent deliveries.
        return WebhookEvent.objects.get(merchant=merchant, webhook_id=webhook_id), False
    return event, True


def webhook_event_process(*, event_id) -> str:
    """Apply one RECEIVED event to its refund; returns the event's status afterwards.

    Safe to run twice or concurrently: the event's row lock serialises runs and anything
    but RECEIVED is left alone. A decided refund is never moved: the event becomes
    IGNORED with the reason. Transient database errors propagate (the task retries);
    anything else marks the event FAILED.
    """
    # Counted outside the transaction below, so a run that dies still counts.
    WebhookEvent.objects.filter(pk=event_id, status=EventStatus.RECEIVED).update(attempts=F("attempts") + 1)
    with transaction.atomic():
        # The event lock is taken before the refund service's (user -> plan -> ... -> refund)
        # and no other path locks events after those, so this cannot deadlock.
        event = WebhookEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            return "missing"
        if event.status != EventStatus.RECEIVED:
            return event.status
        if event.attempts > MAX_ATTEMPTS:
            return _finish(event, EventStatus.FAILED, f"gave up after {event.attempts - 1} attempts")
        refund = event.refund
        if refund is None:  # webhook_event_receive always names one
            return _finish(event, EventStatus.FAILED, "no refund to apply it to")
        data = event.payload["data"]
        decided_by = f"webhook:{event.pk}"
        try:
            if data["status"] == RefundStatus.APPROVED:
                refund_approve(refund=refund, decided_by=decided_by)
            else:
                refund_reject(refund=refund, decided_by=decided_by, reason=data.get("reason", ""))
        except InvalidState:
            current = Refund.objects.values_list("status", flat=True).get(pk=refund.pk)
            return _finish(event, EventStatus.IGNORED, f"refund already {current}")
        return _finish(event, EventStatus.PROCESSED, "")


def webhook_event_fail(*, event_id, reason: str) -> None:
    """Give up on an event that is still RECEIVED (after bounded retries or an unexpected error)."""
    WebhookEvent.objects.filter(pk=event_id, status=EventStatus.RECEIVED).update(
        status=EventStatus.FAILED, status_reason=reason, processed_at=timezone.now())


def _finish(event: WebhookEvent, status: str, reason: str) -> str:
    event.status, event.status_reason, event.processed_at = status, reason, timezone.now()
    event.save(update_fields=["status", "status_reason", "processed_at"])
    return status
