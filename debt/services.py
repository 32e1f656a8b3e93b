"""Who is in debt, repayments, and the overdue sweep: the only writers of debt state.

Lock order everywhere: user -> plans (by id) -> installments (by id). The sweep takes
row locks only with SKIP LOCKED and never holds an installment lock while asking for a
user lock, so it can neither deadlock with nor wait behind a repayment or a plan.
"""
import hashlib
import logging
import struct
import time
from collections.abc import Sequence
from datetime import date
from uuid import UUID

from django.db import OperationalError, connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from bnpl import dates
from bnpl.dates import overdue_cutoff
from bnpl.errors import InvalidState, domain_validation_error
from bnpl.models import ApiKey
from bnpl.money import format_minor
from debt.models import Repayment, RepaymentAllocation, SweepRun
from plans.models import OPEN_STATUSES, Installment, InstallmentStatus, Plan
from users.models import Customer, UserStatus

try:  # provided by the ops/metrics work; the sweep runs the same without it
    from bnpl.metrics import observe_sweep
except ImportError:  # pragma: no cover - depends on what is merged
    observe_sweep = None

logger = logging.getLogger(__name__)

MAX_INSTALLMENT_IDS = 500
SWEEP_CHUNK_SIZE = 10_000
# One fixed 64-bit key for pg_try_advisory_lock, derived from a name so it cannot collide by accident.
SWEEP_LOCK_ID = struct.unpack(">q", hashlib.sha256(b"bnpl.debt.sweep_overdue").digest()[:8])[0]


def debt_status_refresh(*, user: Customer, today: date | None = None) -> bool:
    """Mark ``user``'s past-due installments ``OVERDUE`` and set their status to match.

    The caller holds the lock on ``user`` (``select_for_update``) inside a transaction.
    Returns True when the user has overdue debt.
    """
    assert transaction.get_connection().in_atomic_block, "debt_status_refresh needs the user's row lock"
    # Two statements, on purpose: if the UPDATE waits for a sweep that then commits, only a new
    # statement's snapshot sees the rows that sweep marked (one CTE statement would miss them
    # and let a plan through; debt/tests/test_concurrency.py catches exactly that).
    Installment.objects.filter(
        user=user, status=InstallmentStatus.UPCOMING, due_date__lt=overdue_cutoff(today)
    ).update(status=InstallmentStatus.OVERDUE)
    in_debt = Installment.objects.filter(user=user, status=InstallmentStatus.OVERDUE).exists()
    new_status = UserStatus.DEBT_USER if in_debt else UserStatus.NORMAL
    if user.status != new_status:
        user.status = new_status
        Customer.objects.filter(pk=user.pk).update(status=new_status)
    return in_debt


# --- Repayments -------------------------------------------------------------------


def repayment_apply(*, user: Customer, installment_ids: Sequence[UUID] | None = None,
                    amount: int | None = None, created_by: ApiKey | None = None,
                    today: date | None = None) -> Repayment:
    """Repay ``user``'s installments, all or nothing, with exactly one of:

    - ``installment_ids``: each paid in full. Not this user's: 400; already settled: 409 ``invalid_state``.
    - ``amount``: oldest due date first (then plan creation, then sequence), partly on the last one
      reached. Above what the user owes in total: 400.

    Locks the user, then the plans involved (by id), then the installments (by id); settles
    them through ``installments_settle`` and refreshes the user's status, in one transaction.
    The returned repayment carries ``allocation_rows`` (the allocations, in order) and
    ``user_status``.
    """
    from plans.services import installments_settle  # plans.services imports this module

    if (installment_ids is None) == (amount is None):
        raise domain_validation_error("non_field_errors", "Give exactly one of installment_ids or amount.",
                                      "exactly_one")
    if installment_ids is not None:
        installment_ids = list(installment_ids)
        if not installment_ids:
            raise domain_validation_error("installment_ids", "Must not be empty.", "empty")
        if len(installment_ids) > MAX_INSTALLMENT_IDS:
            raise domain_validation_error("installment_ids", f"At most {MAX_INSTALLMENT_IDS} ids.", "too_long")
        if len(set(installment_ids)) != len(installment_ids):
            raise domain_validation_error("installment_ids", "Each id may appear once.", "duplicate")
    elif amount <= 0:
        raise domain_validation_error("amount", "Must be greater than 0.", "positive")

    today = today or dates.business_today()
    now = timezone.now()
    with transaction.atomic():
        user = Customer.objects.select_for_update().defer(*Customer.ENCRYPTED_FIELDS).get(pk=user.pk)
        if installment_ids is not None:
            targets = Installment.objects.filter(user=user, pk__in=installment_ids)
        else:
            targets = Installment.objects.filter(user=user, status__in=OPEN_STATUSES)
        # Under the user's lock nobody else can change which installments these are (every
        # writer of a user's installments takes the user's lock first; the sweep only turns
        # UPCOMING into OVERDUE), so locking plans then installments by id sees one state.
        plans = {plan.pk: plan for plan in Plan.objects.select_for_update()
                 .filter(pk__in=Subquery(targets.values("plan_id"))).order_by("pk")}
        installments = list(targets.select_for_update().order_by("pk"))

        if installment_ids is not None:
            if len(installments) != len(installment_ids):
                raise domain_validation_error("installment_ids", "Not an installment of this user.",
                                              "does_not_exist")
            settled = [i for i in installments if i.status not in OPEN_STATUSES]
            if settled:
                raise InvalidState(f"Installment {settled[0].pk} is already settled.")
            order = {pk: index for index, pk in enumerate(installment_ids)}
            installments.sort(key=lambda i: order[i.pk])
            allocations = [(i, i.outstanding_amount) for i in installments]
        else:
            allocations = _allocate(amount, installments, plans)

        for installment, part in allocations:
            installment.paid_amount += part
        installments_settle(installments=[i for i, _ in allocations], now=now)
        debt_status_refresh(user=user, today=today)

        repayment = Repayment.objects.create(user=user, amount=sum(part for _, part in allocations),
                                             created_by=created_by)
        repayment.allocation_rows = RepaymentAllocation.objects.bulk_create(
            RepaymentAllocation(repayment=repayment, installment=installment, plan_id=installment.plan_id,
                                amount=part)
            for installment, part in allocations
        )
    repayment.user_status = user.status
    return repayment


def _allocate(amount: int, installments: list[Installment],
              plans: dict[UUID, Plan]) -> list[tuple[Installment, int]]:
    """Oldest due date first, then the older plan, then the sequence; partly on the last one."""
    owed = sum(i.outstanding_amount for i in installments)
    if amount > owed:
        raise domain_validation_error("amount", f"Above what the user owes in total ({format_minor(owed)}).",
                                      "exceeds_outstanding")
    installments = sorted(installments,
                          key=lambda i: (i.due_date, plans[i.plan_id].created_at, i.sequence, str(i.plan_id)))
    allocations, left = [], amount
    for installment in installments:
        if left <= 0:
            break
        part = min(left, installment.outstanding_amount)
        allocations.append((installment, part))
        left -= part
    return allocations


# --- The overdue sweep --------------------------------------------------------------


def sweep_overdue(*, today: date | None = None, chunk_size: int = SWEEP_CHUNK_SIZE) -> dict:
    """Mark past-due ``UPCOMING`` installments ``OVERDUE``, users with one ``DEBT_USER``, and users
    with none back ``NORMAL``. Set-based, in chunks of ``chunk_size`` rows, each its own short
    transaction; memory does not grow with the tables.

    One sweep at a time (a PostgreSQL advisory lock): a second one returns ``{"skipped": True}``.
    Rows locked by a repayment or a plan are skipped (SKIP LOCKED): that transaction applies the
    same rule itself (``debt_status_refresh``) and the next run catches anything left. Running it
    again changes nothing. Every run is recorded in ``SweepRun``.
    """
    cutoff = overdue_cutoff(today or dates.business_today())
    started_at, clock = timezone.now(), time.monotonic()
    if not _sweep_lock_acquire():
        SweepRun.objects.create(started_at=started_at, finished_at=timezone.now(), duration_ms=0,
                                cutoff_date=cutoff, skipped=True)
        logger.info("overdue sweep skipped: another sweep holds the lock")
        return {"skipped": True, "cutoff_date": cutoff.isoformat()}
    try:
        run = SweepRun.objects.create(started_at=started_at, cutoff_date=cutoff)
        try:
            if connection.vendor == "postgresql":
                counts = _sweep_postgresql(cutoff, chunk_size)
            else:
                counts = _sweep_orm(cutoff, chunk_size)
        except Exception as exc:
            # The class only: a database message can quote row values.
            _finish(run, clock, {}, error=f"{type(exc).__name__}")
            raise
        duration_s = _finish(run, clock, counts)
    finally:
        _sweep_lock_release()
    if observe_sweep is not None:
        observe_sweep(duration_s, counts)
    result = {"skipped": False, "cutoff_date": cutoff.isoformat(), **counts, "duration_ms": run.duration_ms}
    logger.info("overdue sweep finished", extra={"sweep": result})
    return result


def _finish(run: SweepRun, clock: float, counts: dict, error: str = "") -> float:
    duration_s = time.monotonic() - clock
    run.finished_at = timezone.now()
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


# Literal table names keep the SQL static (checked in test_sweep against the models' db_table).
_ZERO_UUID = UUID(int=0)

# One chunk of past-due UPCOMING installments: the next ``limit`` candidates in (due_date, id)
# order from where the last chunk ended (an index-only range scan of installment_upcoming_due_idx),
# then those rows locked without waiting (SKIP LOCKED) and marked. Locking and updating go
# through the candidates' ids and then their ctids, so the heap is visited in physical order
# (a bitmap/TID scan) rather than in due-date order: a chunk touches each heap page once.
_MARK_CHUNK_SQL = """
WITH candidates AS (
    SELECT id, due_date FROM plans_installment
    WHERE status = 'UPCOMING' AND due_date < %(cutoff)s AND (due_date, id) > (%(after_due)s, %(after_id)s)
    ORDER BY due_date, id
    LIMIT %(limit)s
), {mark}, last AS (
    SELECT due_date, id FROM candidates ORDER BY due_date DESC, id DESC LIMIT 1
)
SELECT (SELECT count(*) FROM marked), (SELECT count(*) FROM candidates),
       (SELECT due_date FROM last), (SELECT id FROM last)
"""
_MARK_INSTALLMENTS_SQL = _MARK_CHUNK_SQL.format(mark="""locked AS (
    SELECT ctid FROM plans_installment
    WHERE id = ANY(ARRAY(SELECT id FROM candidates)) AND status = 'UPCOMING' AND due_date < %(cutoff)s
    FOR NO KEY UPDATE SKIP LOCKED
), marked AS (
    UPDATE plans_installment SET status = 'OVERDUE'
    WHERE ctid = ANY(ARRAY(SELECT ctid FROM locked)) AND status = 'UPCOMING'
    RETURNING 1
)""")

# The same chunk as a plain UPDATE, tried first: when no repayment holds any of its rows (the
# usual case) it skips the separate lock step, which costs a WAL record per row. It runs under
# a short lock_timeout, below deadlock_timeout: if a row is held, the chunk gives up within
# milliseconds (delaying that repayment by no more) and is redone in the SKIP LOCKED form above.
_MARK_LOCK_TIMEOUT = "50ms"
_MARK_INSTALLMENTS_FAST_SQL = _MARK_CHUNK_SQL.format(mark="""marked AS (
    UPDATE plans_installment SET status = 'OVERDUE'
    WHERE ctid = ANY(ARRAY(SELECT ctid FROM plans_installment WHERE id = ANY(ARRAY(SELECT id FROM candidates))))
      AND status = 'UPCOMING' AND due_date < %(cutoff)s
    RETURNING 1
)""")
_LOCK_NOT_AVAILABLE = "55P03"

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
        RETURNING c.status)
    SELECT count(*) FILTER (WHERE status = 'DEBT_USER'), count(*) FILTER (WHERE status = 'NORMAL') FROM changed
"""  # noqa: S608 - built from constants only


def _sweep_postgresql(cutoff: date, chunk_size: int) -> dict:
    counts = {"installments_marked_overdue": 0}
    after_due, after_id = date.min, _ZERO_UUID
    while True:
        params = {"cutoff": cutoff, "after_due": after_due, "after_id": after_id, "limit": chunk_size}
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{_MARK_LOCK_TIMEOUT}'")
                cursor.execute(_MARK_INSTALLMENTS_FAST_SQL, params)
                marked, seen, last_due, last_id = cursor.fetchone()
        except OperationalError as exc:
            if getattr(exc.__cause__, "pgcode", None) != _LOCK_NOT_AVAILABLE:
                raise
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_MARK_INSTALLMENTS_SQL, params)
                marked, seen, last_due, last_id = cursor.fetchone()
        counts["installments_marked_overdue"] += marked
        if seen < chunk_size:
            break
        after_due, after_id = last_due, last_id

    counts["users_marked_debt"] = counts["users_restored"] = 0
    after_id = _ZERO_UUID
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_USER_LOCK_SQL, {"after_id": after_id, "limit": chunk_size})
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                # A later statement: it sees whatever the previous holder of a lock committed.
                cursor.execute(_USER_UPDATE_SQL, {"ids": ids})
                marked, restored = cursor.fetchone()
                counts["users_marked_debt"] += marked
                counts["users_restored"] += restored
        if len(ids) < chunk_size:
            break
        after_id = ids[-1]
    return counts


def _sweep_orm(cutoff: date, chunk_size: int) -> dict:
    """The same passes with the ORM's set-based ``update()`` (SQLite: one writer at a time, no row locks)."""
    counts = {"installments_marked_overdue": 0, "users_marked_debt": 0, "users_restored": 0}
    due = Installment.objects.filter(status=InstallmentStatus.UPCOMING, due_date__lt=cutoff)
    counts["installments_marked_overdue"] = _update_in_chunks(
        Installment.objects, due.order_by("due_date", "pk"), chunk_size, status=InstallmentStatus.OVERDUE)

    has_overdue = Exists(Installment.objects.filter(user=OuterRef("pk"), status=InstallmentStatus.OVERDUE))
    counts["users_marked_debt"] = _update_in_chunks(
        Customer.objects, Customer.objects.filter(has_overdue, status=UserStatus.NORMAL).order_by("pk"),
        chunk_size, status=UserStatus.DEBT_USER)
    counts["users_restored"] = _update_in_chunks(
        Customer.objects, Customer.objects.filter(~has_overdue, status=UserStatus.DEBT_USER).order_by("pk"),
        chunk_size, status=UserStatus.NORMAL)
    return counts


def _update_in_chunks(manager, candidates, chunk_size: int, **values) -> int:
    """``UPDATE ... WHERE pk IN (first chunk_size candidates)`` until none is left; each chunk
    leaves the candidate set, so this ends."""
    total = 0
    while True:
        with transaction.atomic():
            changed = manager.filter(pk__in=Subquery(candidates.values("pk")[:chunk_size])).update(**values)
        total += changed
        if changed < chunk_size:
            return total
