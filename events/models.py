"""The outbox (events), the endpoints they go to, and every delivery attempt (Saleor's
``EventPayload``/``EventDelivery``/``EventDeliveryAttempt``, folded into two tables)."""
import os
import time
import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from bnpl.crypto import EncryptedTextField
from bnpl.modelbase import Model
from events.types import EVENT_TYPES

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EVENT_ID_PREFIX = "evt_"
EVENT_ID_LENGTH = len(EVENT_ID_PREFIX) + 26


_FROM_RFC4648 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD)


def new_event_ids(count: int, now_ms: int | None = None) -> list[str]:
    """``count`` ids of ``new_event_id``'s form at once, all of the same millisecond (the sweep's
    thousands of events). A ULID is 10 characters of time (48 bits) then 16 of randomness (80 bits,
    exactly 10 bytes of base32): the time part is encoded once, the random parts in one ``base64``
    call over all their bytes (RFC 4648's alphabet mapped to Crockford's)."""
    import base64

    time_part = new_event_id(now_ms)[:len(EVENT_ID_PREFIX) + 10]
    random_parts = base64.b32encode(os.urandom(10 * count)).decode("ascii").translate(_FROM_RFC4648)
    return [time_part + random_parts[16 * n:16 * n + 16] for n in range(count)]


def new_event_id(now_ms: int | None = None) -> str:
    """``evt_`` + a ULID (48-bit milliseconds, 80 random bits, Crockford base32).

    Ids sort by creation time, so ``?after=<id>`` and the oldest-first listing are one range
    scan of the primary key, and an ``after`` id stays meaningful after its event is pruned.
    """
    value = ((now_ms if now_ms is not None else time.time_ns() // 1_000_000) << 80) | int.from_bytes(
        os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD[index])
    return EVENT_ID_PREFIX + "".join(reversed(chars))


class Event(Model):
    """One row per state change, written in the transaction of the change (the outbox)."""

    id = models.CharField(primary_key=True, max_length=EVENT_ID_LENGTH, default=new_event_id, editable=False)
    type = models.CharField(max_length=64)
    # The plan's or refund's merchant: that merchant sees the event. NULL: the client apps only.
    merchant = models.ForeignKey("merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", db_index=False)  # event_merchant_idx leads with it
    data = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)
    # Set once the event's deliveries (one per matching endpoint) exist.
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(type__in=list(EVENT_TYPES)), name="event_type_known"),
            models.CheckConstraint(condition=Q(merchant__isnull=True) | ~Q(type="user.status_changed"),
                                   name="event_user_status_never_merchant"),
        ]
        indexes = [
            models.Index(fields=["id"], condition=Q(dispatched_at__isnull=True), name="event_undispatched_idx"),
            models.Index(fields=["merchant", "id"], name="event_merchant_idx"),
            models.Index(fields=["type", "id"], name="event_type_idx"),
            models.Index(fields=["created_at"], name="event_created_idx"),
        ]


class Audience(models.TextChoices):
    MERCHANT = "merchant"  # one merchant's plans and refunds
    CLIENT = "client"      # the provider's own apps: every event


class EndpointStatus(models.TextChoices):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"  # nothing but failures for BNPL_WEBHOOK_DISABLE_AFTER_DAYS
    DELETED = "DELETED"    # DELETE: kept (its deliveries point at it) but gone from the API


class WebhookEndpoint(Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    audience = models.CharField(max_length=16, choices=Audience.choices)
    merchant = models.ForeignKey("merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    url = models.CharField(max_length=2048)
    # ["*"] (every type the audience may see) or a list of types.
    event_types = models.JSONField(default=list)
    description = models.CharField(max_length=255, blank=True, default="")
    secret = EncryptedTextField()
    # Signed with too for a day after a rotation, so receivers can switch without losing events.
    previous_secret = EncryptedTextField(null=True, blank=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=EndpointStatus.choices, default=EndpointStatus.ENABLED)
    # First failure since the last success; NULL while it succeeds.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(audience=Audience.MERCHANT, merchant__isnull=False)
                           | Q(audience=Audience.CLIENT, merchant__isnull=True)),
                name="endpoint_merchant_iff_merchant_audience"),
            models.CheckConstraint(condition=Q(status__in=EndpointStatus.values), name="endpoint_status_valid"),
        ]
        indexes = [models.Index(fields=["-created_at", "-id"], name="endpoint_created_idx")]

    def wants(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING"      # this attempt is due at next_attempt_at (or claimed by a worker until then)
    SUCCEEDED = "SUCCEEDED"  # a 2xx
    RETRYING = "RETRYING"    # failed; the next attempt is another row, due at next_attempt_at
    FAILED = "FAILED"        # failed and nothing follows (last attempt, endpoint disabled or deleted)


class WebhookDelivery(Model):
    """One attempt to POST one event to one endpoint. A failed attempt is followed by a new row."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # DO_NOTHING: pruning deletes deliveries, then their events, set-based (events/services.py).
    # db_index=False: delivery_event_idx and delivery_endpoint_idx index them.
    event = models.ForeignKey(Event, on_delete=models.DO_NOTHING, related_name="deliveries", db_index=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.DO_NOTHING, related_name="deliveries",
                                 db_index=False)
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The batch that claimed the row; a result is recorded only by the claim that still holds it.
    claim = models.UUIDField(null=True, blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True, default="")
    response_body = models.TextField(blank=True, default="")  # at most 1 KiB of it
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="delivery_status_valid"),
            models.CheckConstraint(condition=~Q(status=DeliveryStatus.PENDING) | Q(next_attempt_at__isnull=False),
                                   name="delivery_pending_has_due_time"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status=DeliveryStatus.PENDING),
                         name="delivery_due_idx"),
            models.Index(fields=["endpoint", "-created_at", "-id"], name="delivery_endpoint_idx"),
            models.Index(fields=["event"], name="delivery_event_idx"),
            models.Index(fields=["created_at"], condition=Q(status=DeliveryStatus.FAILED),
                         name="delivery_failed_idx"),
        ]
