"""Reads of the journal, payouts and reconciliation runs."""
from collections import defaultdict
from datetime import date
from uuid import UUID

from django.db.models import Prefetch, QuerySet, Sum

from ledger.models import (
    OWED_ACCOUNTS,
    Account,
    JournalEntry,
    JournalTransaction,
    Kind,
    Payout,
    ReconciliationRun,
)

# The entries that say what a transaction did to each installment (the "installments" split).
_SPLIT_ACCOUNTS = (Account.RECEIVABLE, Account.FEE_RECEIVABLE)


def _with_split(qs: QuerySet[JournalTransaction]) -> QuerySet[JournalTransaction]:
    return qs.prefetch_related(Prefetch(
        "entries", to_attr="split",
        queryset=JournalEntry.objects.filter(installment_id__isnull=False, account__in=_SPLIT_ACCOUNTS)
        .order_by("id")))


def plan_transactions(*, plan_id: UUID) -> QuerySet[JournalTransaction]:
    """A plan's journal transactions with their per-installment split (oldest first by the paginator)."""
    return _with_split(JournalTransaction.objects.filter(plan_id=plan_id))


def user_transactions(*, user_id: UUID, kind: str | None = None,
                      plan_id: UUID | None = None) -> QuerySet[JournalTransaction]:
    qs = JournalTransaction.objects.filter(user_id=user_id)
    if kind:
        qs = qs.filter(kind=kind)
    if plan_id:
        qs = qs.filter(plan_id=plan_id)
    return _with_split(qs)


def payouts_visible_to(api_key) -> QuerySet[Payout]:
    """A merchant key sees the payouts of its own plans; clients and operators see all."""
    qs = Payout.objects.all()
    if api_key.merchant_id is not None:
        qs = qs.filter(merchant_id=api_key.merchant_id)
    return qs


def payouts_of_refunds(*, refund_ids) -> dict[UUID, UUID]:
    """``{refund_id: payout_id}`` for the refunds that have a payout (one query for a page)."""
    return dict(Payout.objects.filter(refund_id__in=list(refund_ids)).values_list("refund_id", "id"))


def last_reconciliation() -> ReconciliationRun | None:
    """The most recent finished run of ``manage.py reconcile`` (or None if it never ran).

    For the health page's ``ledger`` check and ``/metrics``: ``finished_at``, ``duration_ms``,
    ``plans_checked``, ``installments_checked``, ``transactions_checked``, ``mismatch_count``,
    ``mismatches`` (the first 100) and ``error`` (an exception's class name if the run failed).
    One indexed query.
    """
    return ReconciliationRun.objects.filter(finished_at__isnull=False).order_by("-started_at").first()


# --- As of a business day ---------------------------------------------------------------


def installment_balances_as_of(*, plan_ids: list[UUID], as_of: date) -> dict[UUID, dict[str, int]]:
    """Each installment's ``amount``, ``paid_amount``, ``refunded_amount``, ``fee_amount`` and
    ``fee_waived_amount`` at the end of ``as_of``, rebuilt from the journal alone (one query).
    Installments with no journal line by then are absent."""
    rows = (JournalEntry.objects
            .filter(plan_id__in=plan_ids, installment_id__isnull=False, transaction__business_date__lte=as_of)
            .values("installment_id", "kind").annotate(total=Sum("amount")))
    balances: dict[UUID, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
        ("amount", "paid_amount", "refunded_amount", "fee_amount", "fee_waived_amount"), 0))
    field_of = {Kind.PLAN_OPENED: ("amount", 1), Kind.REPAYMENT: ("paid_amount", -1),
                Kind.REPAYMENT_REVERSED: ("paid_amount", -1), Kind.REFUND_APPLIED: ("refunded_amount", -1),
                Kind.FEE_ASSESSED: ("fee_amount", 1), Kind.FEE_WAIVED: ("fee_waived_amount", -1)}
    for row in rows:
        name, sign = field_of[row["kind"]]
        balances[row["installment_id"]][name] += sign * row["total"]
    return dict(balances)


def plan_opened_on(*, plan_id: UUID) -> date | None:
    """The business day the plan's ``plan_opened`` counts on (None: nothing owed yet)."""
    return (JournalTransaction.objects.filter(plan_id=plan_id, kind=Kind.PLAN_OPENED)
            .values_list("business_date", flat=True).first())


def owed_on_plans(*, plan_ids: list[UUID]) -> int:
    return (JournalEntry.objects.filter(plan_id__in=plan_ids, account__in=OWED_ACCOUNTS)
            .aggregate(total=Sum("amount"))["total"] or 0)


def plans_opened_by(*, user_id: UUID, as_of: date) -> list[UUID]:
    """The user's plans whose ``plan_opened`` counts on or before ``as_of``."""
    return list(JournalTransaction.objects.filter(user_id=user_id, kind=Kind.PLAN_OPENED, business_date__lte=as_of)
                .values_list("plan_id", flat=True))


def attach_refund_ledger(refunds) -> None:
    """Set ``allocations`` (``[(installment_id, amount)]``, what an approved refund took off each
    installment: its ``refund_applied`` journal lines) and ``payout_id`` on each refund; two queries
    for any number of refunds."""
    refunds = [r for r in refunds if not hasattr(r, "ledger_allocations")]
    for refund in refunds:
        refund.ledger_allocations, refund.payout_id = [], None
    # Only an approved refund was applied (``applied_amount`` is set in the same transaction as its
    # journal lines): a pending, rejected or cancelled one has neither lines nor a payout, so a
    # refund just created costs no query here.
    refunds = [r for r in refunds if r.applied_amount is not None]
    if not refunds:
        return
    ids = [r.pk for r in refunds]
    lines: dict[UUID, list[tuple[UUID, int]]] = defaultdict(list)
    for source_id, installment_id, amount in (
            JournalEntry.objects.filter(kind=Kind.REFUND_APPLIED, transaction__source_id__in=ids,
                                        installment_id__isnull=False)
            .order_by("id").values_list("transaction__source_id", "installment_id", "amount")):
        lines[source_id].append((installment_id, -amount))
    payouts = payouts_of_refunds(refund_ids=ids)
    for refund in refunds:
        refund.ledger_allocations = lines.get(refund.pk, [])
        refund.payout_id = payouts.get(refund.pk)
