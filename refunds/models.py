import uuid

from django.db import models
from django.db.models import F, Q

from bnpl.modelbase import Model
from bnpl.money import MoneyModelField


class RefundStatus(models.TextChoices):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


# The whole state machine: PENDING -> APPROVED | REJECTED | CANCELLED, nothing else.
REFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    RefundStatus.PENDING: frozenset({RefundStatus.APPROVED, RefundStatus.REJECTED, RefundStatus.CANCELLED}),
    RefundStatus.APPROVED: frozenset(),
    RefundStatus.REJECTED: frozenset(),
    RefundStatus.CANCELLED: frozenset(),
}


# The longest reason (of a request or a decision) any caller may send: the API and the webhook.
REASON_MAX_LENGTH = 500


class Refund(Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # db_index=False: refund_plan_status_idx, refund_user_created_idx and
    # refund_transaction_per_merchant lead with these (bnpl/tests/test_indexes.py).
    plan = models.ForeignKey("plans.Plan", on_delete=models.PROTECT, related_name="refunds", db_index=False)
    user = models.ForeignKey("users.Customer", on_delete=models.PROTECT, related_name="refunds", db_index=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="refunds",
                                 db_index=False)
    transaction_id = models.CharField(max_length=64)
    amount = MoneyModelField()
    reason = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    applied_amount = MoneyModelField(null=True, blank=True)
    payout_amount = MoneyModelField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")
    decided_by = models.CharField(max_length=100, blank=True, default="",
                                  help_text="Who decided: 'api_key:<id>' or 'webhook:<event id>'.")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "transaction_id"], name="refund_transaction_per_merchant"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=RefundStatus.values), name="refund_status_valid"),
            models.CheckConstraint(
                condition=~Q(status=RefundStatus.APPROVED)
                | Q(applied_amount__gte=0, payout_amount__gte=0, amount=F("applied_amount") + F("payout_amount")),
                name="refund_approved_split",
            ),
        ]
        indexes = [
            models.Index(fields=["plan", "status"], name="refund_plan_status_idx"),
            models.Index(fields=["-created_at", "-id"], name="refund_created_idx"),
            models.Index(fields=["user", "-created_at"], name="refund_user_created_idx"),
        ]
