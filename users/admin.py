"""Customers in the admin: masks only, exactly as the API shows them; nothing editable.

The encrypted columns are excluded from every form and never loaded (``defer``), so the
admin cannot display or leak a raw phone, passport, card or birth date. Customers change
only through ``users.services`` (the API), so the admin is a read-only viewer.
"""
from django.contrib import admin

from bnpl.admin import ReadOnlyAdmin
from users.models import Customer


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ["id", "full_name", "phone_mask", "passport_mask", "card_mask", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["full_name"]
    ordering = ["-created_at", "-id"]
    fields = ("id", "full_name", "phone_mask", "passport_mask", "date_of_birth_mask", "card_mask", "status",
              "created_at", "updated_at")
    readonly_fields = fields
    exclude = list(Customer.ENCRYPTED_FIELDS)

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*Customer.ENCRYPTED_FIELDS)
