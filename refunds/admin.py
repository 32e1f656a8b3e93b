"""Staff view of refunds; decisions go through the same services as the API."""
from django.contrib import admin, messages

from bnpl.actor import ADMIN, acting_as
from bnpl.admin import NoAddOrDeleteAdmin
from bnpl.errors import DomainError
from refunds import services
from refunds.models import Refund


@admin.register(Refund)
class RefundAdmin(NoAddOrDeleteAdmin):
    list_display = ["id", "transaction_id", "merchant", "amount", "status", "applied_amount", "payout_amount",
                    "created_at", "decided_at"]
    list_filter = ["status"]
    search_fields = ["=transaction_id", "=id"]
    ordering = ["-created_at"]
    list_select_related = ["merchant"]
    fields = ("id", "plan", "user", "merchant", "transaction_id", "amount", "reason", "status", "applied_amount",
              "payout_amount", "decided_by", "decided_at", "decision_reason", "created_at")
    readonly_fields = fields
    actions = ["approve", "reject"]

    def _decide(self, request, queryset, decide, verb: str) -> None:
        done = refused = 0
        for refund in queryset.order_by("created_at"):
            try:
                with acting_as(ADMIN, request.user.get_username()):
                    decide(refund=refund, decided_by=f"admin:{request.user.pk}")
                done += 1
            except DomainError:
                refused += 1
        if done:
            self.message_user(request, f"{done} refund(s) {verb}.", messages.SUCCESS)
        if refused:
            self.message_user(request, f"{refused} refund(s) were not PENDING and were left as they are.",
                              messages.WARNING)

    @admin.action(description="Approve the selected PENDING refunds (applies them to their plans)")
    def approve(self, request, queryset) -> None:
        self._decide(request, queryset, services.refund_approve, "approved")

    @admin.action(description="Reject the selected PENDING refunds")
    def reject(self, request, queryset) -> None:
        self._decide(request, queryset, services.refund_reject, "rejected")
