"""Staff view of the webhook inbox (read-only; the payload is not shown)."""
from django.contrib import admin

from webhooks.models import WebhookEvent


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["webhook_id", "merchant", "event_type", "refund", "status", "attempts", "received_at",
                    "processed_at"]
    list_filter = ["status"]
    search_fields = ["=webhook_id"]
    ordering = ["-received_at"]
    list_select_related = ["merchant"]
    fields = ["id", "merchant", "webhook_id", "event_type", "refund", "status", "status_reason", "attempts",
              "received_at", "processed_at"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
