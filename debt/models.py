"""Repayments (with their allocations to installments) and the overdue sweep's run log."""
import uuid

from django.db import models
from django.db.models import Q

from bnpl.modelbase import Model
from bnpl.models import OperatorAdjustment
from bnpl.money import MoneyModelField


class Repayment(Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey("users.Customer", on_delete=models.PROTECT, related_name="repayments",
                             db_index=False)  # repayment_user_created_idx leads with it
    amount = MoneyModelField()
    created_by = models.ForeignKey("bnpl.ApiKey", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    reversed_at = models.DateTimeField(null=True, blank=True)  # set once, by repayment_reverse

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="repayment_amount_positive")]
        indexes = [models.Index(fields=["user", "-created_at"], name="repayment_user_created_idx")]


class RepaymentAllocation(Model):
    repayment = models.ForeignKey(Repayment, on_delete=models.CASCADE, related_name="allocations",
                                  db_index=False)  # allocation_once_per_installment leads with it
    installment = models.ForeignKey("plans.Installment", on_delete=models.PROTECT, related_name="allocations")
    plan = models.ForeignKey("plans.Plan", on_delete=models.PROTECT, related_name="+")
    amount = MoneyModelField()
    # The part of ``amount`` that paid late fees (API.md §13); a reversal takes it back from the fees.
    fee_amount = MoneyModelField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive"),
            models.CheckConstraint(condition=Q(fee_amount__gte=0, fee_amount__lte=models.F("amount")),
                                   name="allocation_fee_within_amount"),
            models.UniqueConstraint(fields=["repayment", "installment"], name="allocation_once_per_installment"),
        ]


class SweepRun(Model):
    """One run of the overdue sweep, for the health page and the operators."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    cutoff_date = models.DateField()
    installments_marked_overdue = models.PositiveIntegerField(default=0)
    installments_restored_upcoming = models.PositiveIntegerField(
        default=0, help_text="OVERDUE installments no longer past due (due date moved, grace raised).")
    users_marked_debt = models.PositiveIntegerField(default=0)
    users_restored = models.PositiveIntegerField(default=0)
    skipped = models.BooleanField(default=False, help_text="Another sweep held the lock.")
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["-started_at"], name="sweeprun_started_idx")]


class RepaymentReversal(OperatorAdjustment):
    """A repayment taken back (a card chargeback, a failed collection found later): API.md §11.

    At most one per repayment; its allocations are the repayment's, taken back in full.
    """

    repayment = models.OneToOneField(Repayment, on_delete=models.PROTECT, related_name="reversal")
    user = models.ForeignKey("users.Customer", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="reversal_amount_positive")]


class AgingSnapshot(Model):
    """The overdue debt of one business day, by aging bucket (API.md §13): the dashboard's 30-day
    line reads these rows, never the history. Written by the sweep, one row per day (upserted:
    the last sweep of the day leaves the day's figures)."""

    business_date = models.DateField(unique=True)
    overdue_amount = MoneyModelField(help_text="Outstanding on overdue installments, minor units.")
    installments = models.PositiveIntegerField()
    fees_outstanding = MoneyModelField(default=0)
    # [{"bucket": "1-30", "installments": n, "users": n, "amount": minor units}, ...] in bucket order.
    buckets = models.JSONField(default=list)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(overdue_amount__gte=0, fees_outstanding__gte=0),
                                              name="aging_snapshot_amounts_non_negative")]
