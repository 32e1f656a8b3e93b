"""Reads of events, endpoints and deliveries, scoped to the caller (API.md §14)."""
from datetime import timedelta

from django.db.models import Min, QuerySet
from django.utils import timezone

from bnpl.models import ApiKey, Role
from bnpl.permissions import scoped_to_caller
from events.models import DeliveryStatus, EndpointStatus, Event, WebhookDelivery, WebhookEndpoint


def events_visible_to(*, api_key: ApiKey) -> QuerySet[Event]:
    """A merchant: the events of its own plans and refunds (never client-only ones, which carry no
    merchant). Client apps and operators: every event."""
    return scoped_to_caller(Event.objects.all(), api_key)


def endpoints_visible_to(*, api_key: ApiKey) -> QuerySet[WebhookEndpoint]:
    """A merchant: its own endpoints. Operators: every endpoint. Client apps: none."""
    endpoints = WebhookEndpoint.objects.exclude(status=EndpointStatus.DELETED)
    if api_key.role == Role.CLIENT:
        return endpoints.none()
    return scoped_to_caller(endpoints, api_key)


def deliveries_of(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event").defer("event__data")


def outbox_stats() -> dict:
    """For the health page's ``outbox`` check and the metrics: what waits, since when, what failed.

    ``oldest_undelivered_age_seconds`` is the age of the oldest event that still has a delivery
    to make (not dispatched yet, or an attempt pending); every read is an index range scan.
    """
    now = timezone.now()
    oldest_undispatched = (Event.objects.filter(dispatched_at__isnull=True)
                           .aggregate(oldest=Min("created_at"))["oldest"])
    pending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING)
    oldest_pending = pending.aggregate(oldest=Min("event__created_at"))["oldest"]
    oldest = min((t for t in (oldest_undispatched, oldest_pending) if t is not None), default=None)
    day_ago = now - timedelta(days=1)
    return {
        "undispatched_events": Event.objects.filter(dispatched_at__isnull=True).count(),
        "pending_deliveries": pending.count(),
        "retrying_deliveries": pending.filter(attempt__gt=1).count(),
        "oldest_undelivered_age_seconds": None if oldest is None else round((now - oldest).total_seconds(), 1),
        "failed_deliveries_24h": WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED,
                                                                created_at__gte=day_ago).count(),
        "failing_endpoints": WebhookEndpoint.objects.filter(status=EndpointStatus.ENABLED,
                                                            failing_since__isnull=False).count(),
        "disabled_endpoints": WebhookEndpoint.objects.filter(status=EndpointStatus.DISABLED).count(),
    }
