"""The only writers of the journal and of payouts.

Every posting is made inside the caller's transaction (the one that changes the balances it
records), by :func:`journal_post`: one INSERT of the journal transactions and one of their
entries, whatever their number. Entries are signed integer minor units (debit > 0, credit < 0)
and must sum to zero per transaction; :func:`journal_post` refuses anything else, and
``manage.py reconcile`` checks it again over the whole table.

The objects handed in (plans, installments, refunds) are duck-typed: this app sits below
``plans`` and imports none of the apps above it.
"""
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid4

from django.db import transaction
from django.db.models import Sum

from audit.models import ObjectType
from audit.services import status_change_record
from bnpl import dates
from bnpl.bulk import PREPARED_ROWS, insert_params, insert_shape
from bnpl.errors import InvalidState
from bnpl.prepared import ServerSQL
from events.services import event_record
from ledger.locks import payout_lock
from ledger.models import (
    OWED_ACCOUNTS,
    PAYOUT_TRANSITIONS,
    Account,
    JournalEntry,
    JournalTransaction,
    Kind,
    Payout,
    PayoutStatus,
    SourceType,
)


class UnbalancedPosting(ValueError):
    """A posting whose entries do not sum to zero (or are malformed): a bug, never a user error."""


@dataclass(frozen=True)
class Line:
    account: str
    amount: int  # minor units: debit > 0, credit < 0
    installment_id: UUID | None = None
    plan_id: UUID | None = None
    user_id: UUID | None = None
    merchant_id: UUID | None = None


@dataclass
class Posting:
    kind: str
    user_id: UUID
    amount: int
    source_type: str
    source_id: UUID
    lines: list[Line]
    plan_id: UUID | None = None
    merchant_id: UUID | None = None
    outstanding_after: int | None = None
    business_date: date | None = None
    id: UUID = field(default_factory=uuid4)


# The choices' values as sets, once: ``Choices.values`` builds a new list on every access, and
# every entry of every posting is checked against them.
_KINDS, _SOURCE_TYPES, _ACCOUNTS = frozenset(Kind.values), frozenset(SourceType.values), frozenset(Account.values)


def _check(posting: Posting) -> None:
    if posting.kind not in _KINDS or posting.source_type not in _SOURCE_TYPES:
        raise UnbalancedPosting(f"unknown kind or source type: {posting.kind}/{posting.source_type}")
    if type(posting.amount) is not int or posting.amount <= 0:
        raise UnbalancedPosting(f"{posting.kind}: amount must be a positive int of minor units")
    if len(posting.lines) < 2:
        raise UnbalancedPosting(f"{posting.kind}: a journal transaction has at least two entries")
    for line in posting.lines:
        if type(line.amount) is not int or line.amount == 0 or line.account not in _ACCOUNTS:
            raise UnbalancedPosting(f"{posting.kind}: malformed entry on {line.account}")
    if sum(line.amount for line in posting.lines) != 0:
        raise UnbalancedPosting(f"{posting.kind}: entries sum to {sum(line.amount for line in posting.lines)}")
    if sum(line.amount for line in posting.lines if line.amount > 0) != posting.amount:
        raise UnbalancedPosting(f"{posting.kind}: amount is not the sum of the debits")


def journal_post(*, postings: Sequence[Posting]) -> list[JournalTransaction]:
    """Write ``postings`` in the caller's transaction: one statement on PostgreSQL (two INSERTs on
    SQLite) whatever their number."""
    postings = list(postings)
    if not postings:
        return []
    assert transaction.get_connection().in_atomic_block, "a posting is written with the change it records"
    for posting in postings:
        _check(posting)
    today = dates.business_today()
    rows = [JournalTransaction(id=p.id, kind=p.kind, plan_id=p.plan_id, user_id=p.user_id,
                               merchant_id=p.merchant_id, amount=p.amount, business_date=p.business_date or today,
                               source_type=p.source_type, source_id=p.source_id,
                               outstanding_after=p.outstanding_after)
            for p in postings]
    entries = [JournalEntry(transaction_id=p.id, kind=p.kind, account=line.account, amount=line.amount,
                            installment_id=line.installment_id, plan_id=line.plan_id or p.plan_id,
                            user_id=line.user_id or p.user_id, merchant_id=line.merchant_id or p.merchant_id)
               for p in postings for line in p.lines]
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        _insert_in_one_statement(connection, rows, entries)
    else:
        JournalTransaction.objects.bulk_create(rows)
        JournalEntry.objects.bulk_create(entries)
    return rows


def _insert_in_one_statement(connection, rows: list[JournalTransaction], entries: list[JournalEntry]) -> None:
    """Both INSERTs as one statement (a data-modifying CTE): one round trip per money movement.
    The entries' foreign key is checked at commit (Django's constraints are deferred)."""
    statement = _insert_statement(connection.alias, len(rows), len(entries))
    with connection.cursor() as cursor:
        statement.execute(cursor, insert_params(connection, JournalTransaction, rows)
                          + insert_params(connection, JournalEntry, entries))


@lru_cache(maxsize=128)
def _insert_statement(alias: str, transactions: int, entries: int) -> ServerSQL:
    """The statement for that many transactions and entries (a write's posting: prepared once per
    session, ``bnpl.bulk``)."""
    tx_columns, tx_values = insert_shape(alias, JournalTransaction, transactions)
    entry_columns, entry_values = insert_shape(alias, JournalEntry, entries)
    # Table and column names come from the models; every value is a parameter.
    return ServerSQL(
        f"WITH t AS (INSERT INTO {JournalTransaction._meta.db_table} ({tx_columns}) VALUES {tx_values}) "  # noqa: S608
        f"INSERT INTO {JournalEntry._meta.db_table} ({entry_columns}) VALUES {entry_values}",
        prepare=transactions + entries <= PREPARED_ROWS)


# --- Postings of each kind (the chart and the legs are in ledger/__init__.py) -----------------


def journal_plan_opened(*, plan: Any, installments: Iterable[Any], business_date: date | None = None) -> None:
    """The customer owes the total: Dr receivable per installment, Cr merchant_payable.

    ``business_date`` is the plan's value date (its start date, or the day it was confirmed).
    """
    installments = list(installments)
    total = sum(i.amount for i in installments)
    lines = [Line(Account.RECEIVABLE, i.amount, installment_id=i.pk) for i in installments]
    lines.append(Line(Account.MERCHANT_PAYABLE, -total))
    journal_post(postings=[Posting(
        kind=Kind.PLAN_OPENED, user_id=plan.user_id, plan_id=plan.pk, merchant_id=plan.merchant_id, amount=total,
        source_type=SourceType.PLAN, source_id=plan.pk, lines=lines, outstanding_after=total,
        business_date=business_date)])


def _per_plan(kind: str, source_type: str, source_id: UUID, parts: Iterable[tuple[Any, int]],
              plans: dict[UUID, Any], counter: str, sign: int, fees: dict[UUID, int] | None = None) -> list[Posting]:
    """One posting per plan touched: each installment's part on receivable (``sign``: -1 reduces
    what is owed), the total against ``counter``. ``plans`` are the plans as they stood before.
    ``fees``: the share of an installment's part that is late fees, on fee_receivable instead."""
    fees = fees or {}
    by_plan: dict[UUID, list[tuple[Any, int]]] = defaultdict(list)
    for installment, part in parts:
        if part:
            by_plan[installment.plan_id].append((installment, part))
    postings = []
    for plan_id, rows in by_plan.items():
        plan = plans[plan_id]
        total = sum(part for _, part in rows)
        lines = []
        for i, part in rows:
            fee = fees.get(i.pk, 0)
            if part - fee:
                lines.append(Line(Account.RECEIVABLE, sign * (part - fee), installment_id=i.pk))
            if fee:
                lines.append(Line(Account.FEE_RECEIVABLE, sign * fee, installment_id=i.pk))
        lines.append(Line(counter, -sign * total))
        postings.append(Posting(
            kind=kind, user_id=plan.user_id, plan_id=plan_id, merchant_id=plan.merchant_id, amount=total,
            source_type=source_type, source_id=source_id, lines=lines,
            outstanding_after=plan.outstanding_amount + sign * total))
    return postings


def journal_repayment(*, repayment_id: UUID, parts: Iterable[tuple[Any, int]], plans: dict[UUID, Any],
                      fees: dict[UUID, int] | None = None) -> None:
    """Money in: Dr cash, Cr receivable (and fee_receivable for ``fees``, the part of an
    installment's share that paid its late fees) of each installment paid; one transaction per plan."""
    journal_post(postings=_per_plan(Kind.REPAYMENT, SourceType.REPAYMENT, repayment_id, parts, plans,
                                    Account.CASH, -1, fees))


def journal_repayment_reversed(*, repayment_id: UUID, parts: Iterable[tuple[Any, int]],
                               plans: dict[UUID, Any], fees: dict[UUID, int] | None = None) -> None:
    """A repayment taken back: Dr receivable (and fee_receivable for ``fees``) of each installment,
    Cr cash (one transaction per plan)."""
    journal_post(postings=_per_plan(Kind.REPAYMENT_REVERSED, SourceType.REPAYMENT, repayment_id, parts, plans,
                                    Account.CASH, +1, fees))


def journal_fee_waived(*, waiver_id: UUID, installment: Any, amount: int, plan: Any) -> None:
    """An operator waived ``amount`` of late fees: Dr fee_waivers, Cr fee_receivable (installment).
    ``plan`` is the plan as it stood before."""
    journal_post(postings=[Posting(
        kind=Kind.FEE_WAIVED, user_id=plan.user_id, plan_id=plan.pk, merchant_id=plan.merchant_id, amount=amount,
        source_type=SourceType.FEE_WAIVER, source_id=waiver_id, outstanding_after=plan.outstanding_amount - amount,
        lines=[Line(Account.FEE_WAIVERS, amount),
               Line(Account.FEE_RECEIVABLE, -amount, installment_id=installment.pk)])])


# The fees the sweep just assessed, journalled in one statement (a data-modifying CTE) from arrays
# of their columns: per fee one fee_assessed transaction (its source the late fee row) with
# Dr fee_receivable (installment), Cr fee_income.
_FEES_ASSESSED_SQL = """
WITH src AS MATERIALIZED (
    SELECT gen_random_uuid() AS tx_id, s.*
      FROM unnest(%(fee_ids)s::uuid[], %(installment_ids)s::uuid[], %(plan_ids)s::uuid[], %(user_ids)s::uuid[],
                  %(merchant_ids)s::uuid[], %(amounts)s::bigint[], %(outstanding_after)s::bigint[])
           AS s(fee_id, installment_id, plan_id, user_id, merchant_id, amount, outstanding_after)
), t AS (
    INSERT INTO ledger_journaltransaction (id, kind, plan_id, user_id, merchant_id, amount, business_date,
                                           source_type, source_id, outstanding_after, created_at)
    SELECT tx_id, 'fee_assessed', plan_id, user_id, merchant_id, amount, %(business_date)s,
           'late_fee', fee_id, outstanding_after, now() FROM src
)
INSERT INTO ledger_journalentry (transaction_id, kind, account, plan_id, installment_id, user_id, merchant_id, amount)
SELECT tx_id, 'fee_assessed', 'fee_receivable', plan_id, installment_id, user_id, merchant_id, amount FROM src
UNION ALL
SELECT tx_id, 'fee_assessed', 'fee_income', plan_id, NULL, user_id, merchant_id, -amount FROM src
"""


@dataclass(frozen=True)
class AssessedFee:
    """One late fee just assessed, as the journal needs it (``outstanding_after``: the plan's
    outstanding amount right after it)."""

    fee_id: UUID
    installment_id: UUID
    plan_id: UUID
    user_id: UUID
    merchant_id: UUID
    amount: int
    outstanding_after: int


def journal_fees_assessed(*, fees: Sequence[AssessedFee], business_date: date) -> None:
    """``fee_assessed`` for each of ``fees`` in the caller's transaction: one set-based statement on
    PostgreSQL whatever their number, ``journal_post`` (two INSERTs) elsewhere."""
    if not fees:
        return
    connection = transaction.get_connection()
    assert connection.in_atomic_block, "a posting is written with the change it records"
    if connection.vendor != "postgresql":
        journal_post(postings=[Posting(
            kind=Kind.FEE_ASSESSED, user_id=f.user_id, plan_id=f.plan_id, merchant_id=f.merchant_id,
            amount=f.amount, source_type=SourceType.LATE_FEE, source_id=f.fee_id,
            outstanding_after=f.outstanding_after, business_date=business_date,
            lines=[Line(Account.FEE_RECEIVABLE, f.amount, installment_id=f.installment_id),
                   Line(Account.FEE_INCOME, -f.amount)]) for f in fees])
        return
    if any(type(f.amount) is not int or f.amount <= 0 for f in fees):
        raise UnbalancedPosting("fee_assessed: amount must be a positive int of minor units")
    with connection.cursor() as cursor:
        cursor.execute(_FEES_ASSESSED_SQL, {
            "fee_ids": [f.fee_id for f in fees], "installment_ids": [f.installment_id for f in fees],
            "plan_ids": [f.plan_id for f in fees], "user_ids": [f.user_id for f in fees],
            "merchant_ids": [f.merchant_id for f in fees], "amounts": [f.amount for f in fees],
            "outstanding_after": [f.outstanding_after for f in fees], "business_date": business_date})


def journal_refund(*, refund: Any, parts: Iterable[tuple[Any, int]], plan: Any) -> Payout | None:
    """An approved refund: ``refund_applied`` for what reduced the outstanding amount (Dr
    merchant_payable, Cr receivable per installment) and, for the rest, ``refund_payout``
    (Dr merchant_payable, Cr refunds_owed) with the payout that pays it back, created here in the
    approval's transaction. ``plan`` is the plan as it stood before the refund."""
    postings = _per_plan(Kind.REFUND_APPLIED, SourceType.REFUND, refund.pk, parts, {plan.pk: plan},
                         Account.MERCHANT_PAYABLE, -1)
    payout = None
    if refund.payout_amount:
        outstanding = postings[0].outstanding_after if postings else plan.outstanding_amount
        postings.append(Posting(
            kind=Kind.REFUND_PAYOUT, user_id=plan.user_id, plan_id=plan.pk, merchant_id=plan.merchant_id,
            amount=refund.payout_amount, source_type=SourceType.REFUND, source_id=refund.pk,
            outstanding_after=outstanding,
            lines=[Line(Account.MERCHANT_PAYABLE, refund.payout_amount),
                   Line(Account.REFUNDS_OWED, -refund.payout_amount)]))
        payout = Payout.objects.create(refund_id=refund.pk, plan_id=plan.pk, user_id=plan.user_id,
                                       merchant_id=plan.merchant_id, amount=refund.payout_amount)
        status_change_record(object_type=ObjectType.PAYOUT, object_id=payout.pk, old="", new=payout.status)
    journal_post(postings=postings)
    return payout


def plan_outstanding(*, plan_id: UUID) -> int:
    """What the customer owes on a plan, from the journal (the balance of the owed accounts)."""
    return (JournalEntry.objects.filter(plan_id=plan_id, account__in=OWED_ACCOUNTS)
            .aggregate(total=Sum("amount"))["total"] or 0)


# --- Payouts ----------------------------------------------------------------------------


def _transition(*, payout_id: UUID, to: str, **values) -> Payout:
    """The one place that applies ``PAYOUT_TRANSITIONS``: the state check and the write under
    the payout's row lock, so of two racing actions exactly one wins."""
    with transaction.atomic():
        payout = payout_lock(payout_id)
        if to not in PAYOUT_TRANSITIONS[payout.status]:
            raise InvalidState(f"The payout is {payout.status}; it cannot become {to}.")
        old = payout.status
        payout.status = to
        for name, value in values.items():
            setattr(payout, name, value)
        payout.save(update_fields=["status", "updated_at", *values])
        status_change_record(object_type=ObjectType.PAYOUT, object_id=payout.pk, old=old, new=to)
        event_record(type="payout.status_changed", obj=payout, merchant_id=payout.merchant_id)
        if to == PayoutStatus.SETTLED:
            journal_post(postings=[Posting(
                kind=Kind.PAYOUT_SETTLED, user_id=payout.user_id, plan_id=payout.plan_id,
                merchant_id=payout.merchant_id, amount=payout.amount, source_type=SourceType.PAYOUT,
                source_id=payout.pk, outstanding_after=plan_outstanding(plan_id=payout.plan_id),
                lines=[Line(Account.REFUNDS_OWED, payout.amount), Line(Account.CASH, -payout.amount)])])
    return payout


def payout_mark_sent(*, payout_id: UUID, reference: str) -> Payout:
    """PENDING -> SENT: the money left, under the bank's or processor's ``reference``."""
    return _transition(payout_id=payout_id, to=PayoutStatus.SENT, reference=reference, failure_reason="")


def payout_mark_settled(*, payout_id: UUID) -> Payout:
    """SENT -> SETTLED: it arrived; the journal records ``payout_settled``."""
    return _transition(payout_id=payout_id, to=PayoutStatus.SETTLED)


def payout_mark_failed(*, payout_id: UUID, reason: str) -> Payout:
    """SENT -> FAILED: it bounced; the customer is still owed it (``refunds_owed`` unchanged)."""
    return _transition(payout_id=payout_id, to=PayoutStatus.FAILED, failure_reason=reason)


def payout_retry(*, payout_id: UUID) -> Payout:
    """FAILED -> PENDING: to be sent again. The last failure's reason is kept until the next send."""
    return _transition(payout_id=payout_id, to=PayoutStatus.PENDING, reference="")
