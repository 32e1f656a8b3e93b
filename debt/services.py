"""Repayments and the overdue sweep.

Lock order everywhere: user -> plans (by id) -> installments (by id), through the lock helpers.
The sweep takes row locks only with SKIP LOCKED and never holds an installment lock while
asking for a user lock, so it can neither deadlock with nor wait behind a repayment or a plan.
Installment state is written by ``plans.installments`` (the settle step and the overdue rule);
this module decides what to pay and records the repayment.
"""
import hashlib
import logging
import struct
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery

from bnpl import dates
from bnpl.bulk import bulk_insert, insert_one
from bnpl.errors import InvalidState, ValidationFailed
from bnpl.metrics import observe_sweep
from bnpl.models import ApiKey
from bnpl.money import format_minor, max_minor
from debt.aging import AgingReport, aging_report, aging_report_as_of
from debt.models import AgingSnapshot, Repayment, RepaymentAllocation, SweepRun
from debt.selectors import allocation_order
from events.services import event_record, event_record_many, event_record_select
from ledger.services import journal_repayment
from plans.installments import (
    debt_status_refresh,
    fees_sweep,
    installments_settle,
    installments_sweep_orm,
    installments_sweep_postgresql,
    update_in_chunks,
)
from plans.locks import installments_lock, open_installments_lock, plans_lock
from plans.models import OPEN_STATUSES, Installment, InstallmentStatus, Plan
from users.locks import user_lock
from users.models import Customer, UserStatus
from users.selectors import shown_sql, with_credit

__all__ = ["MAX_INSTALLMENT_IDS", "RepaymentResult", "debt_status_refresh", "repayment_apply", "sweep_overdue"]

logger = logging.getLogger(__name__)

MAX_INSTALLMENT_IDS = 500
SWEEP_CHUNK_SIZE = 10_000
# One fixed 64-bit key for pg_try_advisory_lock, derived from a name so it cannot collide by accident.
SWEEP_LOCK_ID = struct.unpack(">q", hashlib.sha256(b"bnpl.debt.sweep_overdue").digest()[:8])[0]


# --- Repayments -------------------------------------------------------------------


@dataclass(frozen=True)
class RepaymentResult:
    """What ``repayment_apply`` did: the repayment, its allocations in order, and the user's
    status right after it."""

    repayment: Repayment
    allocations: list[RepaymentAllocation]
    user_status: str


def repayment_apply(*, user: Customer, installment_ids: Sequence[UUID] | None = None,
                    amount: int | None = None, created_by: ApiKey | None = None,
                    today: date | None = None) -> RepaymentResult:
    """Repay ``user``'s installments, all or nothing, with exactly one of:

    - ``installment_ids``: each paid in full. Not this user's: 400; already settled: 409 ``invalid_state``.
    - ``amount`` (minor units): oldest due date first (``debt.selectors.allocation_order``), partly
      on the last one reached. Above what the user owes in total: 400.

    Locks the user, then the plans involved (by id), then the installments (by id); settles
    them through ``installments_settle`` and refreshes the user's status, in one transaction.
    """
    installment_ids = _check_request(installment_ids, amount)
    today = today or dates.business_today()
    now = dates.now()
    with transaction.atomic():
        # 1. Lock what the repayment may touch, in the lock order.
        user = user_lock(user.pk)
        # Under the user's lock nobody else can change which installments these are (every
        # writer of a user's installments takes the user's lock first; the sweep only turns
        # UPCOMING into OVERDUE and back), so locking plans then installments by id sees one state.
        if installment_ids is not None:
            targets = Installment.objects.filter(user=user, pk__in=installment_ids)
            plans = plans_lock(Subquery(targets.values("plan_id")))
            installments = installments_lock(targets)
        else:
            plans, installments = open_installments_lock(user.pk)

        # 2. Decide how much goes where (and how much of each part pays late fees).
        if installment_ids is not None:
            shares = _allocate_ids(installment_ids, installments)
        else:
            assert amount is not None  # _check_request: exactly one of installment_ids and amount
            shares = _allocate_amount(amount, installments, plans, dates.overdue_cutoff(today))
        allocations = [(installment, part) for installment, part, _ in shares]
        fees = {installment.pk: fee for installment, _, fee in shares if fee}

        # 3. Move the money: the customer paid now.
        for installment, part, fee in shares:
            installment.paid_amount += part
            installment.fee_paid_amount += fee
            installment.paid_at = now
        # The journal, from the plans as they stood before (one journal transaction per plan).
        repayment_id = uuid.uuid4()
        journal_repayment(repayment_id=repayment_id, parts=allocations, plans=plans, fees=fees)
        installments_settle(installments=[i for i, _ in allocations],
                            plans_before={pk: plan.status for pk, plan in plans.items()})
        in_debt = debt_status_refresh(user=user, today=today)

        # 4. Record the repayment and where it went.
        repayment = insert_one(Repayment(id=repayment_id, user=user, amount=sum(part for _, part in allocations),
                                         created_by=created_by))
        rows = [RepaymentAllocation(repayment=repayment, installment=installment, plan_id=installment.plan_id,
                                    amount=part, fee_amount=fee)
                for installment, part, fee in shares]
        bulk_insert(RepaymentAllocation, rows)  # their ids are the database's; nothing reads them back
        result = RepaymentResult(repayment=repayment, allocations=rows,
                                 user_status=UserStatus.DEBT_USER if in_debt else UserStatus.NORMAL)
        event_record(type="repayment.created", obj=result)
    return result


def _check_request(installment_ids: Sequence[UUID] | None, amount: int | None) -> list[UUID] | None:
    """The shape of a repayment request; the one place these rules live (the API only parses)."""
    if installment_ids is not None:
        installment_ids = list(installment_ids)
        if not installment_ids:
            raise ValidationFailed("installment_ids", "Must not be empty.", "empty")
        if len(installment_ids) > MAX_INSTALLMENT_IDS:
            raise ValidationFailed("installment_ids", f"At most {MAX_INSTALLMENT_IDS} ids.", "too_long")
        if len(set(installment_ids)) != len(installment_ids):
            raise ValidationFailed("installment_ids", "Each id may appear once.", "duplicate")
    if (installment_ids is None) == (amount is None):
        raise ValidationFailed("non_field_errors", "Give exactly one of installment_ids or amount.", "exactly_one")
    if amount is not None and amount <= 0:
        raise ValidationFailed("amount", "Must be greater than 0.", "positive")
    return installment_ids


def _allocate_ids(installment_ids: list[UUID],
                  installments: list[Installment]) -> list[tuple[Installment, int, int]]:
    """Each named installment in full (its principal and its late fees), in the order named:
    ``(installment, part, of which fees)``."""
    if len(installments) != len(installment_ids):
        raise ValidationFailed("installment_ids", "Not an installment of this user.", "does_not_exist")
    settled = [i for i in installments if i.status not in OPEN_STATUSES]
    if settled:
        raise InvalidState(f"Installment {settled[0].pk} is already settled.")
    # One repayment carries what one request amount may (below 10^12): the sum of many
    # installments across plans can reach it even though each plan is below it.
    if sum(i.outstanding_amount for i in installments) >= max_minor():
        raise ValidationFailed("installment_ids", f"These installments total {format_minor(max_minor())} or more; "
                                                  "pay them in several repayments.", "max_value")
    order = {pk: index for index, pk in enumerate(installment_ids)}
    return [(i, i.outstanding_amount, i.fees_outstanding) for i in sorted(installments, key=lambda i: order[i.pk])]


def _allocate_amount(amount: int, installments: list[Installment], plans: dict[UUID, Plan],
                     cutoff: date) -> list[tuple[Installment, int, int]]:
    """``amount`` over the open installments (API.md §13): the principal of the overdue ones (due
    before ``cutoff``) in allocation order, then late fees in allocation order, then the principal
    of the rest; partly on the last one reached. ``(installment, part, of which fees)``, one per
    installment, in the order first reached."""
    owed = sum(i.outstanding_amount for i in installments)
    if amount > owed:
        raise ValidationFailed("amount", f"Above what the user owes in total ({format_minor(owed)}).",
                               "exceeds_outstanding")
    ordered = allocation_order(installments=installments,
                               plan_created_at={pk: plan.created_at for pk, plan in plans.items()})
    overdue = [i for i in ordered if i.due_date < cutoff]
    not_overdue = [i for i in ordered if i.due_date >= cutoff]
    reached: dict[UUID, list] = {}  # pk -> [installment, part, fee], in the order first reached
    left = amount
    for installment, is_fee in [*((i, False) for i in overdue), *((i, True) for i in ordered),
                                *((i, False) for i in not_overdue)]:
        if left <= 0:
            break
        part = min(left, installment.fees_outstanding if is_fee else installment.principal_outstanding)
        if part <= 0:
            continue
        share = reached.setdefault(installment.pk, [installment, 0, 0])
        share[1] += part
        share[2] += part if is_fee else 0
        left -= part
    return [(i, part, fee) for i, part, fee in reached.values()]


# --- The overdue sweep --------------------------------------------------------------


def sweep_overdue(*, today: date | None = None, chunk_size: int = SWEEP_CHUNK_SIZE) -> dict:
    """Apply the overdue rule to everyone: past-due ``UPCOMING`` installments become ``OVERDUE``,
    ``OVERDUE`` ones no longer past due go back to ``UPCOMING``, users with an overdue one become
    ``DEBT_USER`` and users with none go back to ``NORMAL``. Set-based, in chunks of ``chunk_size``
    rows, each its own short transaction; memory does not grow with the tables.

    One sweep at a time (a PostgreSQL advisory lock): a second one returns ``{"skipped": True}``.
    Rows locked by a repayment or a plan are skipped (SKIP LOCKED): that transaction applies the
    same rule itself (``debt_status_refresh``) and the next run catches anything left. Running it
    again changes nothing. Every run is recorded in ``SweepRun``.
    """
    today = today or dates.business_today()
    cutoff = dates.overdue_cutoff(today)
    started_at, clock = dates.now(), time.monotonic()
    if not _sweep_lock_acquire():
        SweepRun.objects.create(started_at=started_at, finished_at=dates.now(), duration_ms=0,
                                cutoff_date=cutoff, skipped=True)
        logger.info("overdue sweep skipped: another sweep holds the lock")
        return {"skipped": True, "cutoff_date": cutoff.isoformat()}
    try:
        run = SweepRun.objects.create(started_at=started_at, cutoff_date=cutoff)
        try:
            if connection.vendor == "postgresql":
                counts = _sweep_postgresql(cutoff, today, chunk_size)
            else:
                counts = _sweep_orm(cutoff, today, chunk_size)
            # The fee pass, after the marking pass: only what the overdue rule left OVERDUE accrues fees.
            counts.update(fees_sweep(today=today, cutoff=cutoff, chunk_size=chunk_size))
        except Exception as exc:
            # The class only: a database message can quote row values.
            _finish(run, clock, {}, error=f"{type(exc).__name__}")
            raise
        duration_s = _finish(run, clock, counts)
        aging_snapshot_record(day=today)  # after the marking it reads, still under the sweep's lock
    finally:
        _sweep_lock_release()
    observe_sweep(duration_s, counts)
    result = {"skipped": False, "cutoff_date": cutoff.isoformat(), **counts, "duration_ms": run.duration_ms}
    logger.info("overdue sweep finished", extra={"sweep": result})
    return result


def aging_snapshot_record(*, day: date) -> AgingSnapshot:
    """The day's overdue figures by aging bucket, one row per business day: an upsert on the day
    (a unique column), so a sweep run any number of times a day leaves one row, with the figures
    of the last run. The dashboard's 30-day line reads these rows alone."""
    row = _snapshot_of(aging_report(today=day))
    AgingSnapshot.objects.bulk_create(
        [row], update_conflicts=True, unique_fields=["business_date"],
        update_fields=["overdue_amount", "installments", "fees_outstanding", "buckets", "updated_at"])
    return row


def aging_snapshots_backfill(*, days: int, today: date | None = None) -> list[date]:
    """Write the snapshots missing for the ``days`` business days before ``today`` from the journal
    (the aging report as of each day), never replacing one a sweep wrote. For a new deployment or
    after beat was down: the dashboard's line then has no gap. Returns the days written."""
    today = today or dates.business_today()
    wanted = [today - timedelta(days=offset) for offset in range(days, 0, -1)]
    present = set(AgingSnapshot.objects.filter(business_date__in=wanted).values_list("business_date", flat=True))
    rows = [_snapshot_of(aging_report_as_of(as_of=day)) for day in wanted if day not in present]
    AgingSnapshot.objects.bulk_create(rows, ignore_conflicts=True)
    return [row.business_date for row in rows]


def _snapshot_of(report: AgingReport) -> AgingSnapshot:
    return AgingSnapshot(
        business_date=report.as_of, overdue_amount=report.total_overdue, installments=report.installments,
        fees_outstanding=report.fees_outstanding, updated_at=dates.now(),
        buckets=[{"bucket": b.bucket, "installments": b.installments, "users": b.users, "amount": b.amount}
                 for b in report.buckets])


def _finish(run: SweepRun, clock: float, counts: dict, error: str = "") -> float:
    duration_s = time.monotonic() - clock
    run.finished_at = dates.now()
    run.duration_ms = round(duration_s * 1000)
    run.error = error
    for field, value in counts.items():
        setattr(run, field, value)
    run.save()
    return duration_s


def _sweep_lock_acquire() -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite: one writer at a time anyway
    with connection.cursor() as cursor:
        # Session-level: the sweep commits chunk by chunk, so a transaction-level lock would not cover it.
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SWEEP_LOCK_ID])
        return cursor.fetchone()[0]


def _sweep_lock_release() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SWEEP_LOCK_ID])


# (No such fast path for the user passes below: their condition is an EXISTS over other rows,
# which a single statement would re-check after a lock wait with its old snapshot, and could
# then mark a user DEBT_USER just after a repayment settled their last overdue installment.)

# Users whose status disagrees with their installments, a chunk at a time in id order. The
# rows are locked first (SKIP LOCKED: a user locked by a repayment or a plan is being settled
# by that transaction's own debt_status_refresh) and the condition is checked again by the
# UPDATE, a later statement, so it sees whatever the previous holder of the lock committed.
# "OFFSET 0" keeps each EXISTS a per-row probe of installment_user_overdue_idx: right after the
# installment pass the statistics still say "no OVERDUE rows", and a semi-join planned on that
# guess can scan the whole index once per user.
_HAS_OVERDUE = "EXISTS (SELECT 1 FROM plans_installment AS i WHERE i.user_id = c.id AND i.status = 'OVERDUE' OFFSET 0)"
# Both directions in one scan of the users: those NORMAL with an overdue installment and those
# DEBT_USER with none. Locked first (SKIP LOCKED), then updated by a second statement.
_USER_LOCK_SQL = f"""
    SELECT c.id FROM users_customer AS c
    WHERE c.id > %(after_id)s
      AND ((c.status = 'NORMAL' AND {_HAS_OVERDUE}) OR (c.status = 'DEBT_USER' AND NOT {_HAS_OVERDUE}))
    ORDER BY c.id LIMIT %(limit)s
    FOR UPDATE OF c SKIP LOCKED
"""  # noqa: S608 - built from constants only
_USER_UPDATE_SQL = f"""
    WITH changed AS (
        UPDATE users_customer AS c
           SET status = CASE WHEN {_HAS_OVERDUE} THEN 'DEBT_USER' ELSE 'NORMAL' END
         WHERE c.id = ANY(%(ids)s)
           AND c.status <> CASE WHEN {_HAS_OVERDUE} THEN 'DEBT_USER' ELSE 'NORMAL' END
        RETURNING c.id, c.status)
    SELECT count(*) FILTER (WHERE status = 'DEBT_USER'), count(*) FILTER (WHERE status = 'NORMAL'),
           ARRAY(SELECT id FROM changed) FROM changed
"""  # noqa: S608 - built from constants only


def _sweep_postgresql(cutoff: date, today: date, chunk_size: int) -> dict:
    counts = installments_sweep_postgresql(cutoff=cutoff, today=today, chunk_size=chunk_size)
    counts["users_marked_debt"] = counts["users_restored"] = 0
    after_id = UUID(int=0)
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_USER_LOCK_SQL, {"after_id": after_id, "limit": chunk_size})
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                # A later statement: it sees whatever the previous holder of a lock committed.
                cursor.execute(_USER_UPDATE_SQL, {"ids": ids})
                marked, restored, changed_ids = cursor.fetchone()
                # user.status_changed built by the database, as the installments' events are.
                event_record_select(type="user.status_changed", object_ids=changed_ids,
                                    select_sql=_user_event_sql(), params={})
                counts["users_marked_debt"] += marked
                counts["users_restored"] += restored
        if len(ids) < chunk_size:
            break
        after_id = ids[-1]
    return counts


def _sweep_orm(cutoff: date, today: date, chunk_size: int) -> dict:
    """The same passes with the ORM's set-based ``update()`` (SQLite: one writer at a time, no row locks)."""
    counts = installments_sweep_orm(cutoff=cutoff, today=today, chunk_size=chunk_size)
    has_overdue = Exists(Installment.objects.filter(user=OuterRef("pk"), status=InstallmentStatus.OVERDUE))
    counts["users_marked_debt"] = update_in_chunks(
        Customer.objects, Customer.objects.filter(has_overdue, status=UserStatus.NORMAL).order_by("pk"),
        chunk_size, on_changed=_record_user_status_changes, status=UserStatus.DEBT_USER)
    counts["users_restored"] = update_in_chunks(
        Customer.objects, Customer.objects.filter(~has_overdue, status=UserStatus.DEBT_USER).order_by("pk"),
        chunk_size, on_changed=_record_user_status_changes, status=UserStatus.NORMAL)
    return counts


def _user_event_sql() -> str:
    """A user as GET /users/{id}/ shows it (``users.api.UserSerializer``: personal data masked, the
    available credit from what the user owes), built by PostgreSQL for the users ``%(object_ids)s``.
    ``debt/tests/test_user_event_sql.py`` holds it equal to the representer."""
    owed = "i.amount + i.fee_amount - i.fee_waived_amount - i.paid_amount - i.refunded_amount"
    # Only open installments owe anything (as users.selectors.with_credit sums them, from the index).
    open_statuses = ", ".join(f"'{status.value}'" for status in OPEN_STATUSES)
    shown = ", ".join(f"'{name}', {sql}" for name, sql in shown_sql(row="c", outstanding="COALESCE(o.owed, 0)"))
    return f"""
        SELECT c.id AS object_id, NULL::uuid AS merchant_id, jsonb_build_object({shown}) AS data
        FROM users_customer c
        LEFT JOIN (SELECT i.user_id, SUM({owed}) AS owed FROM plans_installment i
                    WHERE i.user_id = ANY(%(object_ids)s::uuid[]) AND i.status IN ({open_statuses})
                    GROUP BY i.user_id) o ON o.user_id = c.id
        WHERE c.id = ANY(%(object_ids)s::uuid[])"""  # noqa: S608


def _record_user_status_changes(user_ids: list) -> None:
    """``user.status_changed`` for the users a sweep chunk just changed, one INSERT for the lot."""
    if user_ids:
        # As GET /users/{id}/ shows them, available credit included (one grouped query for the chunk).
        users = with_credit(queryset=Customer.objects.filter(pk__in=user_ids).defer(*Customer.ENCRYPTED_FIELDS))
        event_record_many(type="user.status_changed", items=((user, None) for user in users))
