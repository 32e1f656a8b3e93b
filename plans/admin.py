"""Read-only plans for staff. Users appear by id only: no name or contact data here."""
from django.contrib import admin

from bnpl.admin import ReadOnlyAdmin, ReadOnlyInline
from plans.models import Installment, Plan


class InstallmentInline(ReadOnlyInline):
    model = Installment
    fields = readonly_fields = ("sequence", "due_date", "amount", "paid_amount", "refunded_amount", "status",
                                "paid_at")
    show_change_link = True


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdmin):
    list_display = ["id", "user_id", "merchant", "total_amount", "paid_amount", "refunded_amount", "status",
                    "start_date", "created_at"]
    list_filter = ["status"]
    list_select_related = ["merchant"]
    search_fields = ["=id", "=user__id", "=merchant__id"]
    fields = readonly_fields = ("id", "user_id", "merchant", "total_amount", "installment_count", "start_date",
                                "status", "paid_amount", "refunded_amount", "created_at")
    inlines = [InstallmentInline]
    ordering = ["-created_at"]


@admin.register(Installment)
class InstallmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "plan_id", "user_id", "sequence", "due_date", "amount", "paid_amount",
                    "refunded_amount", "status"]
    list_filter = ["status"]
    search_fields = ["=id", "=plan__id", "=user__id"]
    fields = readonly_fields = ("id", "plan_id", "user_id", "sequence", "due_date", "amount", "paid_amount",
                                "refunded_amount", "status", "paid_at")
    ordering = ["due_date"]
    show_full_result_count = False  # no COUNT(*) over millions of rows on every page
