"""Reads of the webhook inbox."""
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Count, Min, QuerySet

from webhooks.models import EventStatus, WebhookEvent


def webhook_event_queryset() -> QuerySet[WebhookEvent]:
    # The payload stays in the database: listings never carry it.
    return WebhookEvent.objects.defer("payload")


def pending_event_ids(*, received_before: datetime, limit: int) -> list[UUID]:
    """RECEIVED events older than ``received_before``, oldest first (the partial index serves this)."""
    return list(WebhookEvent.objects.filter(status=EventStatus.RECEIVED, received_at__lt=received_before)
                .order_by("received_at").values_list("pk", flat=True)[:limit])


@dataclass(frozen=True)
class InboxStats:
    """The inbox at one moment, from one query: events by status and the oldest waiting one."""

    by_status: dict[str, int]
    oldest_received_at: datetime | None

    @property
    def backlog(self) -> int:
        """Events stored and not yet applied (RECEIVED): what the worker and the re-drive still owe."""
        return self.by_status[EventStatus.RECEIVED]

    @property
    def failed(self) -> int:
        return self.by_status[EventStatus.FAILED]


def inbox_stats() -> InboxStats:
    """The one count of the inbox, read by the health page and the metrics alike."""
    rows = (WebhookEvent.objects.values("status").order_by()
            .annotate(n=Count("pk"), oldest=Min("received_at")))
    by_status = {state: 0 for state in EventStatus.values}
    oldest = None
    for row in rows:
        by_status[row["status"]] = row["n"]
        if row["status"] == EventStatus.RECEIVED:
            oldest = row["oldest"]
    return InboxStats(by_status=by_status, oldest_received_at=oldest)
