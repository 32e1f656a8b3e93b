"""Thin tasks: load by id, call the service. Safe to run any number of times."""
import logging
from datetime import timedelta
from uuid import UUID

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from bnpl.actor import WEBHOOK, acting_as
from bnpl.redis_policy import publish
from webhooks import services
from webhooks.selectors import pending_event_ids

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError)
MAX_RETRIES = 5


@shared_task(bind=True, name="webhooks.tasks.process_webhook_event", acks_late=True, max_retries=MAX_RETRIES)
def process_webhook_event(self, event_id: str) -> str:
    try:
        with acting_as(WEBHOOK, str(event_id)):  # the status history names the webhook event
            return services.webhook_event_process(event_id=event_id)
    except TRANSIENT_ERRORS as exc:
        if self.request.retries >= MAX_RETRIES:
            # Still RECEIVED: the beat re-drive tries again later, up to services.MAX_ATTEMPTS.
            logger.warning("webhook event %s: retries exhausted (%s)", event_id, type(exc).__name__)
            raise
        raise self.retry(exc=exc, countdown=min(2 ** self.request.retries, 60))
    except Exception as exc:  # noqa: BLE001 - not transient: retrying would not help
        logger.exception("webhook event %s failed", event_id)
        services.webhook_event_fail(event_id=event_id, reason=f"error: {type(exc).__name__}")
        return "FAILED"


def enqueue_event_processing(event_id: UUID | str) -> bool:
    """Publish the processing task; False (logged, nothing raised) when the broker is unreachable.

    ``services.webhook_event_receive`` calls it once a new event is committed (registered by
    ``WebhooksConfig.ready()``), the re-drive below for events still waiting.
    """
    # Fails open (bnpl.redis_policy): counted and logged there; the beat re-drive retries.
    if not publish(process_webhook_event, args=[str(event_id)]):
        logger.warning("webhook event %s not enqueued; left for the re-drive", event_id)
        return False
    return True


REDRIVE_MIN_AGE_SECONDS = 10
REDRIVE_BATCH_SIZE = 200


@shared_task(name="webhooks.tasks.redrive_pending_events")
def redrive_pending_events(min_age_seconds: int = REDRIVE_MIN_AGE_SECONDS,
                           batch_size: int = REDRIVE_BATCH_SIZE) -> int:
    """Re-enqueue RECEIVED events older than a short delay (their first enqueue may have been lost)."""
    received_before = timezone.now() - timedelta(seconds=min_age_seconds)
    sent = 0
    for event_id in pending_event_ids(received_before=received_before, limit=batch_size):
        if not enqueue_event_processing(event_id):
            break  # the broker is still down: the next beat tick tries again
        sent += 1
    return sent
