"""Reads of the webhook inbox."""
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Count, Min, QuerySet

from bnpl.strict_fields import parse_uuid
from merchants.models import Merchant
from refunds.models import Refund
from webhooks.models import EventStatus, WebhookEvent


def webhook_event_queryset() -> QuerySet[WebhookEvent]:
    # The payload stays in the database: listings never carry it.
    return WebhookEvent.objects.defer("payload")


def pending_event_ids(*, received_before: datetime, limit: int) -> list[UUID]:
    """RECEIVED events older than ``received_before``, oldest first (the partial index serves this)."""
    return list(WebhookEvent.objects.filter(status=EventStatus.RECEIVED, received_at__lt=received_before)
                .order_by("received_at").values_list("pk", flat=True)[:limit])


def merchant_signing_key(*, payload: Any) -> tuple[Merchant, str] | None:
    """The merchant a webhook body claims to come from (``data.merchant_id``) and its current secret.

    ``None`` when the body names no existing merchant. Nothing else in the body is trusted yet.
    """
    try:
        merchant_id = parse_uuid(payload["data"]["merchant_id"])
    except (KeyError, TypeError, IndexError):
        return None
    merchant = Merchant.objects.filter(pk=merchant_id).first() if merchant_id is not None else None
    return None if merchant is None else (merchant, merchant.webhook_secret)


def merchant_refund(*, merchant: Merchant, refund_id: UUID | None, transaction_id: str | None) -> Refund | None:
    """The merchant's refund named by id and/or its transaction id (both must match when both are given)."""
    refunds = Refund.objects.filter(merchant=merchant)
    if refund_id is not None:
        refunds = refunds.filter(pk=refund_id)
    if transaction_id is not None:
        refunds = refunds.filter(transaction_id=transaction_id)
    return refunds.first()
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
