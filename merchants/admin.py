"""Merchants in the admin: never the webhook secret (it is shown once, by the API or the command)."""
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from bnpl.admin import ReadOnlyAdmin
from merchants.models import Merchant


@admin.register(Merchant)
class MerchantAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "secret_rotated_at", "created_at"]
    search_fields = ["name"]
    ordering = ["-created_at", "-id"]
    fields = ("id", "name", "secret_rotated_at", "created_at")
    readonly_fields = fields
    exclude = ["webhook_secret"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Merchant]:
        return super().get_queryset(request).defer("webhook_secret")

    # Merchants are created and rotated through merchants.services (API or create_merchant).
