from django.contrib import admin

from audit.models import AuditEvent
from bnpl.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "object_type", "object_id", "old", "new", "actor_type", "actor_name", "request_id"]
    list_filter = ["object_type", "actor_type"]
    search_fields = ["=object_id", "=request_id"]
    ordering = ["-created_at"]
