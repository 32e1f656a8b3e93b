"""Read-only repayments and overdue sweep runs for staff. Users by id only."""
from django.contrib import admin

from bnpl.admin import ReadOnlyAdmin, ReadOnlyInline
from debt.models import Repayment, RepaymentAllocation, SweepRun


class AllocationInline(ReadOnlyInline):
    model = RepaymentAllocation
    fields = readonly_fields = ("installment_id", "plan_id", "amount")


@admin.register(Repayment)
class RepaymentAdmin(ReadOnlyAdmin):
    list_display = ["id", "user_id", "amount", "created_at"]
    search_fields = ["=id", "=user__id"]
    fields = readonly_fields = ("id", "user_id", "amount", "created_by", "created_at")
    inlines = [AllocationInline]
    ordering = ["-created_at"]


@admin.register(SweepRun)
class SweepRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "finished_at", "duration_ms", "cutoff_date", "installments_marked_overdue",
                    "users_marked_debt", "users_restored", "skipped", "has_error"]
    list_filter = ["skipped"]
    fields = readonly_fields = ("started_at", "finished_at", "duration_ms", "cutoff_date",
                                "installments_marked_overdue", "users_marked_debt", "users_restored", "skipped",
                                "error")
    ordering = ["-started_at"]

    @admin.display(boolean=True, description="error")
    def has_error(self, run):
        return bool(run.error)
