"""Journal transactions and their entries (append-only), payouts, and reconciliation runs.

The chart of accounts and the postings of each kind are in this app's docstring (``ledger/__init__.py``).
Journal rows are never updated or deleted: the database refuses (triggers, migration 0002).
"""
import uuid

from django.db import models
from django.db.models import Q

from bnpl.modelbase import Model


class Kind(models.TextChoices):
    PLAN_OPENED = "plan_opened"
    REPAYMENT = "repayment"
    REPAYMENT_REVERSED = "repayment_reversed"
    REFUND_APPLIED = "refund_applied"
    REFUND_PAYOUT = "refund_payout"
    PAYOUT_SETTLED = "payout_settled"
    FEE_ASSESSED = "fee_assessed"
    FEE_WAIVED = "fee_waived"


class Account(models.TextChoices):
    RECEIVABLE = "receivable"
    FEE_RECEIVABLE = "fee_receivable"
    CASH = "cash"
    MERCHANT_PAYABLE = "merchant_payable"
    REFUNDS_OWED = "refunds_owed"
    FEE_INCOME = "fee_income"
    FEE_WAIVERS = "fee_waivers"


# The accounts whose balance is what the customer owes on a plan (its outstanding amount).
OWED_ACCOUNTS = (Account.RECEIVABLE, Account.FEE_RECEIVABLE)


class SourceType(models.TextChoices):
    PLAN = "plan"
    REPAYMENT = "repayment"
    REFUND = "refund"
    PAYOUT = "payout"
    INSTALLMENT = "installment"
    LATE_FEE = "late_fee"
    FEE_WAIVER = "fee_waiver"


class JournalTransaction(Model):
    """One money movement. ``amount`` is its positive size; its entries carry the signs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    plan_id = models.UUIDField(null=True, blank=True)
    user_id = models.UUIDField()
    merchant_id = models.UUIDField(null=True, blank=True)
    amount = models.BigIntegerField(help_text="Minor units, > 0.")
    business_date = models.DateField(help_text="The business day (BNPL_TIME_ZONE) it counts on.")
    source_type = models.CharField(max_length=16, choices=SourceType.choices)
    source_id = models.UUIDField()
    outstanding_after = models.BigIntegerField(null=True, blank=True,
                                               help_text="The plan's outstanding amount right after it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="journal_amount_positive"),
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="journal_kind_valid"),
        ]
        indexes = [
            models.Index(fields=["plan_id", "created_at", "id"], name="journal_plan_idx"),
            models.Index(fields=["user_id", "created_at", "id"], name="journal_user_idx"),
            models.Index(fields=["source_id"], name="journal_source_idx"),
        ]


class JournalEntry(Model):
    """One leg: a signed amount (debit > 0, credit < 0) on one account."""

    id = models.BigAutoField(primary_key=True)
    transaction = models.ForeignKey(JournalTransaction, on_delete=models.PROTECT, related_name="entries")
    # Denormalized from the transaction so reconciliation aggregates one table.
    kind = models.CharField(max_length=24, choices=Kind.choices)
    account = models.CharField(max_length=24, choices=Account.choices)
    plan_id = models.UUIDField(null=True, blank=True)
    installment_id = models.UUIDField(null=True, blank=True)
    user_id = models.UUIDField(null=True, blank=True)
    merchant_id = models.UUIDField(null=True, blank=True)
    amount = models.BigIntegerField(help_text="Minor units: debit > 0, credit < 0.")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(account__in=Account.values), name="journal_entry_account_valid"),
            models.CheckConstraint(condition=~Q(amount=0), name="journal_entry_nonzero"),
        ]


class PayoutStatus(models.TextChoices):
    PENDING = "PENDING"
    SENT = "SENT"
    SETTLED = "SETTLED"
    FAILED = "FAILED"


# The whole lifecycle, in one place: PENDING -> SENT -> SETTLED | FAILED, FAILED -> PENDING (retry).
PAYOUT_TRANSITIONS: dict[str, frozenset[str]] = {
    PayoutStatus.PENDING: frozenset({PayoutStatus.SENT}),
    PayoutStatus.SENT: frozenset({PayoutStatus.SETTLED, PayoutStatus.FAILED}),
    PayoutStatus.FAILED: frozenset({PayoutStatus.PENDING}),
    PayoutStatus.SETTLED: frozenset(),
}


class Payout(Model):
    """Money owed back to a customer (a refund's ``payout_amount``), until it is settled."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    refund_id = models.UUIDField(unique=True)
    plan_id = models.UUIDField()
    user_id = models.UUIDField()
    merchant_id = models.UUIDField()
    amount = models.BigIntegerField(help_text="Minor units, > 0.")
    status = models.CharField(max_length=16, choices=PayoutStatus.choices, default=PayoutStatus.PENDING)
    reference = models.CharField(max_length=128, blank=True, default="")
    failure_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=PayoutStatus.values), name="payout_status_valid"),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="payout_created_idx"),
            models.Index(fields=["user_id", "-created_at"], name="payout_user_idx"),
            models.Index(fields=["merchant_id", "-created_at"], name="payout_merchant_idx"),
            models.Index(fields=["status"], name="payout_status_idx"),
        ]


class ReconciliationRun(Model):
    """One run of ``manage.py reconcile`` (daily by beat), for the health page and /metrics."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    plans_checked = models.PositiveIntegerField(default=0)
    installments_checked = models.PositiveIntegerField(default=0)
    transactions_checked = models.PositiveIntegerField(default=0)
    mismatch_count = models.PositiveIntegerField(default=0)
    mismatches = models.JSONField(default=list, help_text="The first mismatches found (at most 100).")
    error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["-started_at"], name="reconrun_started_idx")]
