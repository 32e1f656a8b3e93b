"""Staff view of the webhook inbox (read-only; the payload is not shown)."""
from django.contrib import admin

from bnpl.admin import ReadOnlyAdmin
from webhooks.models import WebhookEvent


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["webhook_id", "merchant", "event_type", "refund", "status", "attempts", "received_at",
                    "processed_at"]
    list_filter = ["status"]
    search_fields = ["=webhook_id"]
    ordering = ["-received_at"]
    list_select_related = ["merchant"]
    fields = readonly_fields = ("id", "merchant", "webhook_id", "event_type", "refund", "status", "status_reason",
                                "attempts", "received_at", "processed_at")
