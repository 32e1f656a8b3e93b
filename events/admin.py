from django.contrib import admin

from events.models import Event, WebhookDelivery, WebhookEndpoint


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows are written by the services only; the admin looks."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "merchant_id", "created_at", "dispatched_at"]
    list_filter = ["type"]
    show_full_result_count = False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["id", "audience", "merchant_id", "url", "status", "failing_since", "created_at"]
    exclude = ["secret", "previous_secret"]  # never shown after creation


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "event_id", "endpoint_id", "attempt", "status", "status_code", "next_attempt_at"]
    list_filter = ["status"]
    show_full_result_count = False
