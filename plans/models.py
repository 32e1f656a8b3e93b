"""Plans and their installments. Amount invariants are database constraints too."""
import uuid
from datetime import datetime
from typing import ClassVar

from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Now
from django.utils import timezone

from bnpl.modelbase import Model
from bnpl.models import OperatorAdjustment
from bnpl.money import MoneyModelField


class PlanStatus(models.TextChoices):
    PENDING_CONFIRMATION = "PENDING_CONFIRMATION"  # a merchant's checkout, waiting for the customer (API.md §12)
    ACTIVE = "ACTIVE"                              # owed: something outstanding
    COMPLETED = "COMPLETED"                        # nothing outstanding
    DECLINED = "DECLINED"                          # the customer said no
    EXPIRED = "EXPIRED"                            # not confirmed before expires_at


# The whole state machine, in one place. Only ACTIVE and COMPLETED plans have installments and
# owe anything; the three checkout states never do (no installment, no debt, no journal entry).
#   PENDING_CONFIRMATION -> ACTIVE (plan_confirm) | DECLINED (plan_decline) | EXPIRED (plans_expire)
#   ACTIVE <-> COMPLETED (installments_settle; back to ACTIVE only by a repayment reversal)
PLAN_TRANSITIONS: dict[str, frozenset[str]] = {
    PlanStatus.PENDING_CONFIRMATION: frozenset({PlanStatus.ACTIVE, PlanStatus.DECLINED, PlanStatus.EXPIRED}),
    PlanStatus.ACTIVE: frozenset({PlanStatus.COMPLETED}),
    PlanStatus.COMPLETED: frozenset({PlanStatus.ACTIVE}),
    PlanStatus.DECLINED: frozenset(),
    PlanStatus.EXPIRED: frozenset(),
}
CHECKOUT_STATUSES = (PlanStatus.PENDING_CONFIRMATION, PlanStatus.DECLINED, PlanStatus.EXPIRED)
# What counts against BNPL_MAX_OPEN_PLANS.
OPEN_PLAN_STATUSES = (PlanStatus.ACTIVE, PlanStatus.PENDING_CONFIRMATION)


class InstallmentStatus(models.TextChoices):
    UPCOMING = "UPCOMING"    # outstanding, not (yet) marked overdue
    OVERDUE = "OVERDUE"      # outstanding, marked by the sweep or a live debt check
    PAID = "PAID"            # nothing outstanding, something paid
    CANCELLED = "CANCELLED"  # nothing outstanding, covered by refunds alone


OPEN_STATUSES = (InstallmentStatus.UPCOMING, InstallmentStatus.OVERDUE)
# A due-date extension moves a due date by 1 to this many days (API.md §13).
MIN_EXTENSION_DAYS, MAX_EXTENSION_DAYS = 1, 14


def current_status_sql() -> Case:
    """``Plan.current_status`` as an expression, for ``?status=`` filters."""
    return Case(When(status=PlanStatus.PENDING_CONFIRMATION, expires_at__lte=Now(), then=Value(PlanStatus.EXPIRED)),
                default=F("status"), output_field=models.CharField())


def settlement_constraints(prefix: str, *, principal: str, within: str) -> list[models.CheckConstraint]:
    """What a plan and an installment may hold, one rule for both tables: every amount non-negative;
    the principal paid (paid less fees paid) and refunded within ``principal``; the fees paid and
    waived within the fees assessed, and no more of the payments counted as fees than were paid."""
    return [
        models.CheckConstraint(condition=Q(paid_amount__gte=0, refunded_amount__gte=0, fee_amount__gte=0,
                                           fee_paid_amount__gte=0, fee_waived_amount__gte=0),
                               name=f"{prefix}_amounts_non_negative"),
        models.CheckConstraint(condition=Q(**{f"{principal}__gte": F("paid_amount") - F("fee_paid_amount")
                                              + F("refunded_amount")}),
                               name=f"{prefix}_settled_within_{within}"),
        models.CheckConstraint(condition=Q(fee_amount__gte=F("fee_paid_amount") + F("fee_waived_amount"),
                                           paid_amount__gte=F("fee_paid_amount")),
                               name=f"{prefix}_fees_settled_within_fees"),
    ]


class Plan(Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # db_index=False: led by plan_user_created_idx and plan_merchant_created_idx (bnpl/tests/test_indexes.py).
    user = models.ForeignKey("users.Customer", on_delete=models.PROTECT, related_name="plans", db_index=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="plans",
                                 db_index=False)
    total_amount = MoneyModelField()
    installment_count = models.PositiveSmallIntegerField()
    start_date = models.DateField(null=True, blank=True)  # None until a checkout is confirmed
    status = models.CharField(max_length=24, choices=PlanStatus.choices, default=PlanStatus.ACTIVE)
    # Set on a merchant's checkout: past it, an unconfirmed plan is EXPIRED (reads see it at once).
    expires_at = models.DateTimeField(null=True, blank=True)
    # Denormalized sums of the installments, kept by the services under the plan's lock.
    # ``paid_amount`` includes ``fee_paid_amount`` (API.md §13); ``total_amount`` is principal only.
    paid_amount = MoneyModelField(default=0)
    refunded_amount = MoneyModelField(default=0)
    fee_amount = MoneyModelField(default=0)
    fee_paid_amount = MoneyModelField(default=0)
    fee_waived_amount = MoneyModelField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(total_amount__gt=0), name="plan_total_positive"),
            models.CheckConstraint(condition=Q(installment_count__gte=3, installment_count__lte=12),
                                   name="plan_installment_count_3_12"),
            *settlement_constraints("plan", principal="total_amount", within="total"),
            models.CheckConstraint(condition=Q(status__in=PlanStatus.values), name="plan_status_valid"),
            models.CheckConstraint(
                condition=Q(status=PlanStatus.COMPLETED,
                            total_amount=F("paid_amount") + F("refunded_amount") + F("fee_waived_amount")
                            - F("fee_amount"))
                | (Q(status=PlanStatus.ACTIVE)
                   & Q(total_amount__gt=F("paid_amount") + F("refunded_amount") + F("fee_waived_amount")
                       - F("fee_amount")))
                | Q(status__in=CHECKOUT_STATUSES, paid_amount=0, refunded_amount=0, fee_amount=0),
                name="plan_status_matches_outstanding",
            ),
            models.CheckConstraint(condition=~Q(status=PlanStatus.PENDING_CONFIRMATION) | Q(expires_at__isnull=False),
                                   name="plan_pending_expires"),
            models.CheckConstraint(condition=Q(status__in=CHECKOUT_STATUSES) | Q(start_date__isnull=False),
                                   name="plan_owed_has_start_date"),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="plan_user_created_idx"),
            models.Index(fields=["merchant", "-created_at"], name="plan_merchant_created_idx"),
            models.Index(fields=["-created_at", "-id"], name="plan_created_idx"),
        ]

    @property
    def outstanding_amount(self) -> int:
        if self.status in CHECKOUT_STATUSES:
            return 0  # nothing is owed before the customer confirms
        return (self.total_amount + self.fee_amount - self.fee_waived_amount - self.paid_amount
                - self.refunded_amount)

    def current_status(self, now: datetime | None = None) -> str:
        """The status every read shows: a checkout past ``expires_at`` is EXPIRED at once, even
        before beat writes it (``current_status_sql`` is the same rule for queries)."""
        if (self.status == PlanStatus.PENDING_CONFIRMATION and self.expires_at is not None
                and self.expires_at <= (now or timezone.now())):
            return PlanStatus.EXPIRED
        return self.status


class Installment(Model):
    # For the layers below, which reach this model through the reverse relation (``users.selectors``).
    OPEN_STATUSES: ClassVar[tuple[str, ...]] = OPEN_STATUSES

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="installments",
                             db_index=False)  # installment_sequence_per_plan leads with it
    # Denormalized from the plan so the sweep and debt reads never join plans.
    user = models.ForeignKey("users.Customer", on_delete=models.PROTECT, related_name="installments")
    sequence = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    amount = MoneyModelField()
    # ``paid_amount`` includes ``fee_paid_amount`` (API.md §13); refunds reduce principal only.
    paid_amount = MoneyModelField(default=0)
    refunded_amount = MoneyModelField(default=0)
    fee_amount = MoneyModelField(default=0)
    fee_paid_amount = MoneyModelField(default=0)
    fee_waived_amount = MoneyModelField(default=0)
    status = models.CharField(max_length=16, choices=InstallmentStatus.choices, default=InstallmentStatus.UPCOMING)
    paid_at = models.DateTimeField(null=True, blank=True)
    # Delinquency (API.md §13; the rule and the derived figures: plans/overdue.py). The first business
    # day it was marked overdue, kept for good; the longest overdue spell that has ended (a spell still
    # running is counted on read); the days its due date was moved by the plan's one extension.
    overdue_since = models.DateField(null=True, blank=True)
    max_days_past_due = models.PositiveIntegerField(default=0)
    extended_days = models.PositiveSmallIntegerField(default=0)
    # Returns pause collection: while today is before this date the plan's installments are not
    # overdue. The same value on every installment of the plan (written by plans.installments).
    collection_paused_until = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "sequence"], name="installment_sequence_per_plan"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="installment_amount_positive"),
            *settlement_constraints("installment", principal="amount", within="amount"),
            models.CheckConstraint(condition=Q(status__in=InstallmentStatus.values),
                                   name="installment_status_valid"),
            # Open statuses exactly when something (principal or fees) is outstanding.
            models.CheckConstraint(
                condition=(Q(status__in=OPEN_STATUSES)
                           & Q(amount__gt=F("paid_amount") + F("refunded_amount") + F("fee_waived_amount")
                               - F("fee_amount")))
                | (~Q(status__in=OPEN_STATUSES)
                   & Q(amount=F("paid_amount") + F("refunded_amount") + F("fee_waived_amount") - F("fee_amount"))),
                name="installment_status_matches_outstanding",
            ),
            models.CheckConstraint(condition=Q(extended_days__gte=0, extended_days__lte=MAX_EXTENSION_DAYS),
                                   name="installment_extended_days_range"),
            # Once per plan (API.md §13), held by the database whatever races.
            models.UniqueConstraint(fields=["plan"], condition=Q(extended_days__gt=0),
                                    name="installment_one_extension_per_plan"),
        ]
        indexes = [
            # The sweep: "UPCOMING and due before X" is an index range scan, walked in (due_date, id)
            # chunks that each start where the last ended (no rescan of rows already marked).
            models.Index(fields=["due_date", "id"], condition=Q(status=InstallmentStatus.UPCOMING),
                         name="installment_upcoming_due_idx"),
            # Debt reads and repayment allocation: a user's open installments by due date. The
            # amounts ride along for what a user owes (``users.selectors.with_credit``): a page of
            # the users list sums its customers' open installments from the index alone, however
            # many paid ones their history holds (bench/RESULTS.md, "Request path, ninth pass").
            models.Index(fields=["user", "due_date"], condition=Q(status__in=OPEN_STATUSES),
                         include=["amount", "fee_amount", "fee_waived_amount", "paid_amount", "refunded_amount"],
                         name="installment_user_open_owed_idx"),
            # "Who has anything overdue" for the sweep's user pass; the due date rides along so the
            # sweep finds OVERDUE rows no longer past due (rare) without visiting the heap.
            # The pause date rides along too, so the "no longer overdue" test is index-only as well.
            models.Index(fields=["user"], include=["due_date", "collection_paused_until"],
                         condition=Q(status=InstallmentStatus.OVERDUE),
                         name="installment_user_overdue_idx"),
        ]

    @property
    def outstanding_amount(self) -> int:
        """Principal and fees still owed (API.md §13)."""
        return self.amount + self.fee_amount - self.fee_waived_amount - self.paid_amount - self.refunded_amount

    @property
    def principal_outstanding(self) -> int:
        return self.amount - (self.paid_amount - self.fee_paid_amount) - self.refunded_amount

    @property
    def fees_outstanding(self) -> int:
        return self.fee_amount - self.fee_waived_amount - self.fee_paid_amount

    @staticmethod
    def outstanding() -> CombinedExpression:
        """``outstanding_amount`` in SQL, for sums over many installments."""
        return F("amount") + F("fee_amount") - F("fee_waived_amount") - F("paid_amount") - F("refunded_amount")

    def settle_status(self) -> None:
        """The one rule for an installment's status after money moved on it. (``paid_at`` is not
        its business: it is the time of the customer's last payment, set by the repayment.)"""
        if self.outstanding_amount > 0:
            if self.status not in OPEN_STATUSES:
                raise ValueError("a settled installment cannot become outstanding again")
            return
        self.status = InstallmentStatus.PAID if self.paid_amount > 0 else InstallmentStatus.CANCELLED


class LateFee(Model):
    """One late-fee step assessed on one installment (API.md §13). The unique (installment, step)
    pair is what makes assessment idempotent: the sweep inserts with ON CONFLICT DO NOTHING, so a
    step is assessed once however often or concurrently it runs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    installment = models.ForeignKey(Installment, on_delete=models.PROTECT, related_name="late_fees",
                                    db_index=False)  # late_fee_once_per_step leads with it
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="late_fees")
    # No foreign key in the database: its check would take a share lock on the user row from inside
    # the sweep's fee pass, which holds plans, and wait for a repayment holding the user (a deadlock).
    user = models.ForeignKey("users.Customer", on_delete=models.DO_NOTHING, db_constraint=False,
                             related_name="late_fees")
    step_days = models.PositiveIntegerField(help_text="The BNPL_LATE_FEES step (days past due) assessed.")
    amount = MoneyModelField()
    business_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["installment", "step_days"], name="late_fee_once_per_step"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="late_fee_amount_positive"),
        ]


class LateFeeWaiver(OperatorAdjustment):
    """An operator waived what was left of an installment's late fees (API.md §13): the source of
    its ``fee_waived`` journal transaction, with the reason and who did it."""

    installment = models.ForeignKey(Installment, on_delete=models.PROTECT, related_name="fee_waivers")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="fee_waiver_amount_positive")]
