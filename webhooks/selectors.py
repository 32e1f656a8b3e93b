"""Reads of the webhook inbox."""
from datetime import datetime
from uuid import UUID

from django.db.models import QuerySet

from webhooks.models import EventStatus, WebhookEvent


def webhook_event_queryset() -> QuerySet[WebhookEvent]:
    # The payload stays in the database: listings never carry it.
    return WebhookEvent.objects.defer("payload")


def pending_event_ids(*, received_before: datetime, limit: int) -> list[UUID]:
    """RECEIVED events older than ``received_before``, oldest first (the partial index serves this)."""
    return list(WebhookEvent.objects.filter(status=EventStatus.RECEIVED, received_at__lt=received_before)
                .order_by("received_at").values_list("pk", flat=True)[:limit])
