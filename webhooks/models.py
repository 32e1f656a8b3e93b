"""The merchant webhook inbox: every verified event is a row before anything acts on it."""
import uuid

from django.db import models
from django.db.models import Q

from bnpl.modelbase import Model

WEBHOOK_ID_MAX_LENGTH = 255


class EventStatus(models.TextChoices):
    RECEIVED = "RECEIVED"    # stored, not yet applied (the re-drive picks these up)
    PROCESSED = "PROCESSED"  # applied to its refund
    IGNORED = "IGNORED"      # valid but had no effect (late, out of order); see status_reason
    FAILED = "FAILED"        # gave up after bounded retries; see status_reason


class WebhookEvent(Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="webhook_events",
                                 db_index=False)  # webhook_event_once_per_merchant leads with it
    webhook_id = models.CharField(max_length=WEBHOOK_ID_MAX_LENGTH)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    refund = models.ForeignKey("refunds.Refund", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="webhook_events")
    status = models.CharField(max_length=16, choices=EventStatus.choices, default=EventStatus.RECEIVED)
    status_reason = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "webhook_id"], name="webhook_event_once_per_merchant"),
            models.CheckConstraint(condition=Q(status__in=EventStatus.values), name="webhook_event_status_valid"),
        ]
        indexes = [
            models.Index(fields=["received_at"], condition=Q(status=EventStatus.RECEIVED),
                         name="webhook_event_pending_idx"),
            models.Index(fields=["-received_at", "-id"], name="webhook_event_received_idx"),
        ]
