"""API keys in the admin: prefix, role, merchant and revocation; never the hash.

Keys are created with ``manage.py create_api_key`` (the raw key is printed once);
the admin can only revoke them, through the same service as ``revoke_api_key``.
"""
from django.contrib import admin, messages

from bnpl.models import ApiKey
from bnpl.services import api_key_revoke


class NoAddOrDelete:
    """Rows are created and removed only by the services (API, commands), never in the admin."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnly(NoAddOrDelete):
    """A staff viewer: every change goes through the services."""

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class NoAddOrDeleteAdmin(NoAddOrDelete, admin.ModelAdmin):
    pass


class ReadOnlyAdmin(ReadOnly, admin.ModelAdmin):
    pass


class ReadOnlyInline(ReadOnly, admin.TabularInline):
    extra = 0


@admin.register(ApiKey)
class ApiKeyAdmin(NoAddOrDeleteAdmin):
    list_display = ["name", "prefix", "role", "merchant", "created_at", "revoked_at"]
    list_filter = ["role", "revoked_at"]
    search_fields = ["name", "prefix"]
    ordering = ["-created_at"]
    fields = ("id", "name", "prefix", "role", "merchant", "created_at", "revoked_at")
    readonly_fields = fields
    exclude = ["key_hash"]
    actions = ["revoke"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("merchant").defer("key_hash", "merchant__webhook_secret")

    @admin.action(description="Revoke selected API keys (they get 401 from now on)", permissions=["change"])
    def revoke(self, request, queryset):
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
