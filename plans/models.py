"""Plans and their installments. Amount invariants are database constraints too."""
import uuid

from django.db import models
from django.db.models import F, Q
from django.db.models.expressions import CombinedExpression

from bnpl.money import MoneyModelField


class PlanStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"


class InstallmentStatus(models.TextChoices):
    UPCOMING = "UPCOMING"    # outstanding, not (yet) marked overdue
    OVERDUE = "OVERDUE"      # outstanding, marked by the sweep or a live debt check
    PAID = "PAID"            # nothing outstanding, something paid
    CANCELLED = "CANCELLED"  # nothing outstanding, covered by refunds alone


OPEN_STATUSES = (InstallmentStatus.UPCOMING, InstallmentStatus.OVERDUE)


class Plan(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey("users.Customer", on_delete=models.PROTECT, related_name="plans")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="plans")
    total_amount = MoneyModelField()
    installment_count = models.PositiveSmallIntegerField()
    start_date = models.DateField()
    status = models.CharField(max_length=16, choices=PlanStatus.choices, default=PlanStatus.ACTIVE)
    # Denormalized sums of the installments, kept by the services under the plan's lock.
    paid_amount = MoneyModelField(default=0)
    refunded_amount = MoneyModelField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(total_amount__gt=0), name="plan_total_positive"),
            models.CheckConstraint(condition=Q(installment_count__gte=3, installment_count__lte=12),
                                   name="plan_installment_count_3_12"),
            models.CheckConstraint(condition=Q(paid_amount__gte=0, refunded_amount__gte=0),
                                   name="plan_amounts_non_negative"),
            models.CheckConstraint(condition=Q(total_amount__gte=F("paid_amount") + F("refunded_amount")),
                                   name="plan_settled_within_total"),
            models.CheckConstraint(condition=Q(status__in=PlanStatus.values), name="plan_status_valid"),
            models.CheckConstraint(
                condition=Q(status=PlanStatus.COMPLETED, total_amount=F("paid_amount") + F("refunded_amount"))
                | (Q(status=PlanStatus.ACTIVE) & Q(total_amount__gt=F("paid_amount") + F("refunded_amount"))),
                name="plan_status_matches_outstanding",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="plan_user_created_idx"),
            models.Index(fields=["merchant", "-created_at"], name="plan_merchant_created_idx"),
            models.Index(fields=["-created_at", "-id"], name="plan_created_idx"),
        ]

    @property
    def outstanding_amount(self) -> int:
        return self.total_amount - self.paid_amount - self.refunded_amount


class Installment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="installments")
    # Denormalized from the plan so the sweep and debt reads never join plans.
    user = models.ForeignKey("users.Customer", on_delete=models.PROTECT, related_name="installments")
    sequence = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    amount = MoneyModelField()
    paid_amount = MoneyModelField(default=0)
    refunded_amount = MoneyModelField(default=0)
    status = models.CharField(max_length=16, choices=InstallmentStatus.choices, default=InstallmentStatus.UPCOMING)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "sequence"], name="installment_sequence_per_plan"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="installment_amount_positive"),
            models.CheckConstraint(condition=Q(paid_amount__gte=0, refunded_amount__gte=0),
                                   name="installment_amounts_non_negative"),
            models.CheckConstraint(condition=Q(amount__gte=F("paid_amount") + F("refunded_amount")),
                                   name="installment_settled_within_amount"),
            models.CheckConstraint(condition=Q(status__in=InstallmentStatus.values),
                                   name="installment_status_valid"),
            # Open statuses exactly when something is outstanding.
            models.CheckConstraint(
                condition=(Q(status__in=OPEN_STATUSES) & Q(amount__gt=F("paid_amount") + F("refunded_amount")))
                | (~Q(status__in=OPEN_STATUSES) & Q(amount=F("paid_amount") + F("refunded_amount"))),
                name="installment_status_matches_outstanding",
            ),
        ]
        indexes = [
            # The sweep: "UPCOMING and due before X" is an index range scan, walked in (due_date, id)
            # chunks that each start where the last ended (no rescan of rows already marked).
            models.Index(fields=["due_date", "id"], condition=Q(status=InstallmentStatus.UPCOMING),
                         name="installment_upcoming_due_idx"),
            # Debt reads and repayment allocation: a user's open installments by due date.
            models.Index(fields=["user", "due_date"], condition=Q(status__in=OPEN_STATUSES),
                         name="installment_user_open_idx"),
            # "Who has anything overdue" for the sweep's user pass; the due date rides along so the
            # sweep finds OVERDUE rows no longer past due (rare) without visiting the heap.
            models.Index(fields=["user"], include=["due_date"], condition=Q(status=InstallmentStatus.OVERDUE),
                         name="installment_user_overdue_idx"),
        ]

    @property
    def outstanding_amount(self) -> int:
        return self.amount - self.paid_amount - self.refunded_amount

    @staticmethod
    def outstanding() -> CombinedExpression:
        """``outstanding_amount`` in SQL, for sums over many installments."""
        return F("amount") - F("paid_amount") - F("refunded_amount")

    def settle_status(self) -> None:
        """The one rule for an installment's status after money moved on it. (``paid_at`` is not
        its business: it is the time of the customer's last payment, set by the repayment.)"""
        if self.outstanding_amount > 0:
            if self.status not in OPEN_STATUSES:
                raise ValueError("a settled installment cannot become outstanding again")
            return
        self.status = InstallmentStatus.PAID if self.paid_amount > 0 else InstallmentStatus.CANCELLED
