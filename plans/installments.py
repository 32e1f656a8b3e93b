"""The one writer of installment state: money settling on installments, and the overdue rule.

Every change to an installment's amounts or status goes through here, whichever service
causes it (a plan opened, a repayment, a refund, a live debt check, the sweep), so the
import graph runs one way: refunds -> debt -> plans.

The overdue rule (API.md §6, §13; written once in ``plans.overdue``): an installment is overdue when
something is outstanding, its due date is before today minus ``BNPL_GRACE_DAYS`` and its plan's
collection is not paused by a pending return. Its status follows the rule both ways: an
``UPCOMING`` one that meets it becomes ``OVERDUE``, an ``OVERDUE`` one that no longer does (its
due date moved, the grace days were raised, the plan's collection is paused) goes back to
``UPCOMING``, and the user's status follows (``DEBT_USER`` exactly when something is ``OVERDUE``).
The same passes keep the delinquency record: ``overdue_since`` when a row is marked,
``max_days_past_due`` when an overdue spell ends (settled, or back to ``UPCOMING``).
"""
from collections.abc import Iterable
from datetime import date, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import F, IntegerField, Value
from django.db.models.functions import Coalesce, Greatest

from audit.models import ObjectType
from audit.services import StatusChange, status_changes_record
from bnpl import dates
from bnpl.bulk import PREPARED_ROWS, bulk_update
from bnpl.late_fees import late_fee_cap, late_fee_steps
from bnpl.money import currency, format_minor, format_minor_sql
from bnpl.prepared import ServerSQL
from events.services import event_record, event_record_many, event_record_select
from ledger.services import AssessedFee, journal_fees_assessed
from plans.models import OPEN_STATUSES, Installment, InstallmentStatus, LateFee, Plan, PlanStatus
from plans.overdue import NOT_OVERDUE_SQL, OVERDUE_SQL, DaysBetween, days_sql, greatest_sql, is_overdue, overdue_q
from users.models import Customer, UserStatus
from users.selectors import with_credit_of
from users.services import user_status_set

# --- Money settling on installments -----------------------------------------------------------

# Each touched plan's totals and status, recomputed from its installments in one statement
# (PostgreSQL, and SQLite >= 3.33, both have UPDATE ... FROM). The plan status rule lives here.
_PLAN_TOTALS_SQL = """
    UPDATE plans_plan AS p
       SET paid_amount = s.paid, refunded_amount = s.refunded, fee_amount = s.fee, fee_paid_amount = s.fee_paid,
           fee_waived_amount = s.fee_waived,
           status = CASE WHEN p.total_amount + s.fee - s.fee_waived = s.paid + s.refunded THEN %s ELSE %s END
      FROM (SELECT plan_id, SUM(paid_amount) AS paid, SUM(refunded_amount) AS refunded, SUM(fee_amount) AS fee,
                   SUM(fee_paid_amount) AS fee_paid, SUM(fee_waived_amount) AS fee_waived
              FROM plans_installment WHERE plan_id IN ({ids}) GROUP BY plan_id) AS s
     WHERE p.id = s.plan_id
    RETURNING id, merchant_id, status
"""


@lru_cache(maxsize=32)
def _plan_totals(plans: int) -> ServerSQL:
    return ServerSQL(_PLAN_TOTALS_SQL.format(ids=", ".join(["%s"] * plans)), prepare=plans <= PREPARED_ROWS)


def installments_settle(*, installments: Iterable[Installment], plans_before: dict[UUID, str] | None = None,
                        installments_before: dict[UUID, str] | None = None) -> set[UUID]:
    """Persist installments whose ``paid_amount``/``refunded_amount`` (or ``fee_paid_amount``/
    ``fee_waived_amount``) the caller changed. (``fee_amount`` is the fee pass's alone.)

    Sets each installment's status (``Installment.settle_status``), then recomputes each
    touched plan's totals from its installments (so they always equal the sum) and its
    status, in one UPDATE. ``paid_at`` is the caller's to set (a customer payment sets it, a
    refund never does). The caller holds the locks: user, then the plans, then the
    installments. Returns the touched plans' ids.

    Every installment and plan status that changed goes to the status history (one INSERT, only
    if any did). ``plans_before``/``installments_before``: the statuses before the caller's change
    (the plans' are read here if the caller has not loaded them; the installments' default to
    their status on entry).
    """
    assert connection.in_atomic_block, "installments_settle needs the caller's locks"
    installments = list(installments)
    if installments_before is None:
        installments_before = {i.pk: i.status for i in installments}
    was_open = {installment.pk for installment in installments if installment.status in OPEN_STATUSES}
    today = dates.business_today()
    cutoff = dates.overdue_cutoff(today)
    for installment in installments:
        overdue = is_overdue(installment, cutoff=cutoff, today=today)
        installment.settle_status()
        if overdue and installment.status not in OPEN_STATUSES:
            _overdue_spell_close(installment, cutoff=cutoff, today=today)
    # One statement whatever the count (a repayment may touch dozens of installments).
    bulk_update(Installment, installments, ["paid_amount", "refunded_amount", "fee_paid_amount",
                                            "fee_waived_amount", "status", "paid_at", "overdue_since",
                                            "max_days_past_due"])
    plan_ids = {installment.plan_id for installment in installments}
    plans_after: dict[UUID, tuple[Any, str]] = {}
    if plan_ids:
        if plans_before is None:
            plans_before = dict(Plan.objects.filter(pk__in=plan_ids).values_list("pk", "status"))
        prep = Plan._meta.pk.get_db_prep_value
        with connection.cursor() as cursor:
            _plan_totals(len(plan_ids)).execute(cursor, [PlanStatus.COMPLETED, PlanStatus.ACTIVE]
                                                + [prep(pk, connection) for pk in sorted(plan_ids)])
            plans_after = {Plan._meta.pk.to_python(pk): (merchant_id, status)
                           for pk, merchant_id, status in cursor.fetchall()}
    status_changes_record(changes=[
        *(StatusChange(ObjectType.INSTALLMENT, i.pk, installments_before.get(i.pk, ""), i.status)
          for i in installments),
        *(StatusChange(ObjectType.PLAN, pk, (plans_before or {}).get(pk, ""), status)
          for pk, (_, status) in plans_after.items()),
    ])
    _record_settle_events(installments, was_open, plans_after)
    return plan_ids


def _overdue_spell_close(installment: Installment, *, cutoff: date, today: date) -> None:
    """An installment overdue by the rule was just settled: its record keeps when the spell began
    (today, if no sweep or check had marked it yet) and how long it lasted."""
    if installment.overdue_since is None:
        installment.overdue_since = today
    installment.max_days_past_due = max(installment.max_days_past_due, (cutoff - installment.due_date).days)


def _record_settle_events(installments: list[Installment], was_open: set, plans_after: dict) -> None:
    """``installment.paid`` for each installment that became PAID, ``plan.completed`` for each plan
    that became COMPLETED, in the caller's transaction (API.md §14).

    A plan COMPLETED now was ACTIVE before exactly when one of its installments was settled just now
    (an open installment is something outstanding), so no read of the old statuses is needed.
    """
    settled_now = [i for i in installments if i.pk in was_open and i.status not in OPEN_STATUSES]
    event_record_many(type="installment.paid", items=(
        (i, plans_after[i.plan_id][0]) for i in settled_now if i.status == InstallmentStatus.PAID))
    completed = {i.plan_id for i in settled_now if plans_after[i.plan_id][1] == PlanStatus.COMPLETED}
    if completed:
        event_record_many(type="plan.completed", items=(
            (plan, plan.merchant_id) for plan in Plan.objects.filter(pk__in=completed)
            .prefetch_related("installments")))


def record_overdue(installment_ids: list) -> None:
    """``installment.overdue`` for installments just marked, one INSERT for the lot."""
    if installment_ids:
        marked = Installment.objects.filter(pk__in=installment_ids).select_related("plan")
        event_record_many(type="installment.overdue", items=((i, i.plan.merchant_id) for i in marked))


def _installment_json_sql(alias: str) -> str:
    """``plans.api.InstallmentSerializer``'s resource for the row ``alias`` of ``plans_installment``,
    built by PostgreSQL (``jsonb_build_object``), its delinquency figures those of the business day
    ``%(today)s`` (cutoff ``%(cutoff)s``). ``plans/tests/test_event_sql.py`` holds it equal to the
    serializer, field by field."""
    a = alias
    money = {column: format_minor_sql(f"{a}.{column}") for column in (
        "amount", "paid_amount", "refunded_amount", "fee_amount", "fee_paid_amount", "fee_waived_amount")}
    outstanding = format_minor_sql(f"{a}.amount + {a}.fee_amount - {a}.fee_waived_amount - {a}.paid_amount "
                                   f"- {a}.refunded_amount")
    overdue = OVERDUE_SQL.replace("due_date", f"{a}.due_date").replace("collection_paused_until",
                                                                       f"{a}.collection_paused_until")
    days = (f"(CASE WHEN {a}.status IN ('UPCOMING', 'OVERDUE') AND {overdue} "
            f"THEN %(cutoff)s::date - {a}.due_date ELSE 0 END)")
    return f"""jsonb_build_object(
        'id', {a}.id, 'sequence', {a}.sequence, 'due_date', {a}.due_date, 'amount', {money["amount"]},
        'paid_amount', {money["paid_amount"]}, 'refunded_amount', {money["refunded_amount"]},
        'outstanding_amount', {outstanding}, 'fee_amount', {money["fee_amount"]},
        'fee_paid_amount', {money["fee_paid_amount"]}, 'fee_waived_amount', {money["fee_waived_amount"]},
        'status', {a}.status, 'paid_at', {dates.datetime_text_sql(f"{a}.paid_at")},
        'overdue_since', {a}.overdue_since, 'days_past_due', {days},
        'max_days_past_due', GREATEST({a}.max_days_past_due, {days}), 'extended_days', {a}.extended_days)"""


def _installment_event_sql() -> str:
    """The ``installment`` representer's resource (the installment as its plan lists it, with its
    plan and user) for the rows ``%(object_ids)s``, with the plan's merchant."""
    return f"""
        SELECT i.id AS object_id, p.merchant_id,
               {_installment_json_sql("i")} || jsonb_build_object('plan_id', i.plan_id, 'user_id', i.user_id) AS data
        FROM plans_installment i JOIN plans_plan p ON p.id = i.plan_id
        WHERE i.id = ANY(%(object_ids)s::uuid[])"""  # noqa: S608


def _fee_event_sql() -> str:
    """The ``fee`` representer's resource (``plans.api.LateFeeSerializer``: the late fee and its
    installment as it stands) for the fee rows ``%(object_ids)s``, with the plan's merchant."""
    return f"""
        SELECT f.id AS object_id, p.merchant_id, jsonb_build_object(
            'id', f.id, 'installment_id', f.installment_id, 'plan_id', f.plan_id, 'user_id', f.user_id,
            'days_past_due', f.step_days, 'amount', {format_minor_sql("f.amount")}, 'currency', %(currency)s,
            'business_date', f.business_date, 'created_at', {dates.datetime_text_sql("f.created_at")},
            'installment', {_installment_json_sql("i")}) AS data
        FROM plans_latefee f JOIN plans_installment i ON i.id = f.installment_id JOIN plans_plan p ON p.id = f.plan_id
        WHERE f.id = ANY(%(object_ids)s::uuid[])"""  # noqa: S608


def record_overdue_set_based(installment_ids: list, *, cutoff: date, today: date) -> None:
    """``record_overdue`` for the sweep on PostgreSQL: the events built by the database in one
    statement (building each in Python was most of what a cold sweep cost)."""
    event_record_select(type="installment.overdue", object_ids=installment_ids,
                        select_sql=_installment_event_sql(), params={"cutoff": cutoff, "today": today})


# --- Returns pause collection, refund allocation, due-date extension (API.md §13) ----------------

def collection_pause_set(*, plan_id: UUID, until: date | None, installments: Iterable[Installment] = ()) -> bool:
    """Every installment of the plan carries the plan's pause (``None``: not paused); one UPDATE, and
    ``installments`` (the caller's loaded rows of the plan) follow in memory. The caller holds the
    user's and the plan's locks.

    Returns whether the overdue rule may now move one of the plan's installments (one is OVERDUE, or
    UPCOMING and past its due date): then the caller applies it (``debt_status_refresh``), so statuses
    and the user's follow at once; otherwise a pause starting or ending changes nothing today."""
    assert connection.in_atomic_block, "collection_pause_set needs the plan's lock"
    for installment in installments:
        installment.collection_paused_until = until
    prep = Installment._meta.get_field("collection_paused_until").get_db_prep_value
    with connection.cursor() as cursor:
        _PAUSE_SET.execute(cursor, [prep(until, connection), Plan._meta.pk.get_db_prep_value(plan_id, connection)])
        rows = cursor.fetchall()
    cutoff = dates.overdue_cutoff()
    to_date = Installment._meta.get_field("due_date").to_python
    return any(status == InstallmentStatus.OVERDUE
               or (status == InstallmentStatus.UPCOMING and to_date(due) < cutoff) for status, due in rows)


_PAUSE_SET = ServerSQL("UPDATE plans_installment SET collection_paused_until = %s WHERE plan_id = %s "
                       "RETURNING status, due_date")


def collection_pause_until(*, opened_on: date | None) -> date | None:
    """The day a pause ends for a plan whose latest PENDING refund was opened on ``opened_on``
    (``None``: no pending refund, no pause)."""
    if opened_on is None:
        return None
    return opened_on + timedelta(days=settings.BNPL_RETURN_PAUSE_DAYS)


def refund_allocation(*, installments: Iterable[Installment], amount: int,
                      today: date | None = None) -> list[tuple[Installment, int]]:
    """Where a refund of ``amount`` reduces the plan's outstanding installments, in order, and by how
    much (what is left over is the payout). ``BNPL_REFUND_ALLOCATION``: ``last_first`` (API.md §7:
    from the last installment backwards) or ``overdue_first`` (§13, as Fineract: the installments
    overdue by the rule, oldest due first, then the rest from the last backwards)."""
    backwards = sorted(installments, key=lambda i: i.sequence, reverse=True)
    order = backwards
    if settings.BNPL_REFUND_ALLOCATION == "overdue_first":
        today = today or dates.business_today()
        cutoff = dates.overdue_cutoff(today)
        overdue = sorted((i for i in backwards if is_overdue(i, cutoff=cutoff, today=today)),
                         key=lambda i: (i.due_date, i.sequence))
        first = {i.pk for i in overdue}
        order = overdue + [i for i in backwards if i.pk not in first]
    parts, remaining = [], amount
    for installment in order:
        reduction = min(installment.principal_outstanding, remaining)  # refunds reduce principal only (§13)
        if reduction > 0:
            parts.append((installment, reduction))
            remaining -= reduction
    return parts


def due_date_extend(*, installment: Installment, days: int) -> str:
    """Move ``installment``'s due date ``days`` later, the plan's one extension (the caller holds the
    user's, the plan's and the installment's locks and has checked it may). Returns the old due date,
    ISO, for the audit trail. The unique constraint ``installment_one_extension_per_plan`` holds the
    once-per-plan rule in the database too."""
    old = installment.due_date.isoformat()
    installment.due_date += timedelta(days=days)
    installment.extended_days = days
    installment.save(update_fields=["due_date", "extended_days"])
    return old


# --- The overdue rule, for one user, live ------------------------------------------------------

def debt_status_refresh(*, user: Customer, today: date | None = None) -> bool:
    """Bring ``user``'s open installments and their status in line with the overdue rule.

    The caller holds the lock on ``user`` (``users.locks.user_lock``) inside a transaction.
    Returns True when the user has overdue debt.
    """
    assert connection.in_atomic_block, "debt_status_refresh needs the user's row lock"
    today = today or dates.business_today()
    cutoff = dates.overdue_cutoff(today)
    # Two statements, on purpose: if the UPDATE waits for a sweep that then commits, only a new
    # statement's snapshot sees the rows that sweep marked (one CTE statement would miss them
    # and let a plan through; debt/tests/test_concurrency.py catches exactly that).
    changed = _overdue_rule_apply(user=user, cutoff=cutoff, today=today)
    record_overdue([pk for pk, new in changed if new == InstallmentStatus.OVERDUE])
    moved = [StatusChange(ObjectType.INSTALLMENT, pk,
                          InstallmentStatus.UPCOMING if new == InstallmentStatus.OVERDUE else InstallmentStatus.OVERDUE,
                          new) for pk, new in changed]
    in_debt = _has_overdue(user_id=user.pk)
    before = user.status
    user_status_set(user=user, status=UserStatus.DEBT_USER if in_debt else UserStatus.NORMAL)
    # Status history, one INSERT only if anything moved: the installments the rule moved and the
    # user's change (audit sits below users, so the user's is recorded here, by the rule).
    status_changes_record(changes=[*moved, StatusChange(ObjectType.USER, user.pk, before, user.status)])
    if user.status != before:
        # The user as GET /users/{id}/ shows it, available credit included (one query, on a change only).
        event_record(type="user.status_changed", obj=with_credit_of(user=user))
    return in_debt


def _has_overdue(*, user_id: UUID) -> bool:
    """Whether the user has an OVERDUE installment (a fixed statement: it runs on every write that
    applies the rule, where building it in the ORM cost more than running it)."""
    with connection.cursor() as cursor:
        _HAS_OVERDUE.execute(cursor, [Customer._meta.pk.get_db_prep_value(user_id, connection)])
        return bool(cursor.fetchone()[0])


_HAS_OVERDUE = ServerSQL(f"SELECT EXISTS (SELECT 1 FROM {Installment._meta.db_table} "  # noqa: S608 - model constants
                         f"WHERE user_id = %s AND status = '{InstallmentStatus.OVERDUE.value}')")


@lru_cache(maxsize=4)
def _overdue_rule(vendor: str) -> ServerSQL:
    """The rule both ways on one user's installments; the record as it moves (``overdue_since`` when
    marked, the spell's length into ``max_days_past_due`` when it goes back). The text is the
    database's (``days_sql``, ``greatest_sql``)."""
    assert vendor == connection.vendor
    return ServerSQL(f"""
    UPDATE plans_installment
       SET status = CASE WHEN {OVERDUE_SQL} THEN 'OVERDUE' ELSE 'UPCOMING' END,
           overdue_since = CASE WHEN {OVERDUE_SQL} THEN COALESCE(overdue_since, %(today)s) ELSE overdue_since END,
           max_days_past_due = CASE WHEN {OVERDUE_SQL} THEN max_days_past_due
                                    ELSE {greatest_sql()}(max_days_past_due, {days_sql()}) END
     WHERE user_id = %(user_id)s
       AND ((status = 'UPCOMING' AND {OVERDUE_SQL}) OR (status = 'OVERDUE' AND {NOT_OVERDUE_SQL}))
 RETURNING id, status
""")  # noqa: S608 - built from constants only


def _overdue_rule_apply(*, user: Customer, cutoff: date, today: date) -> list[tuple[UUID, str]]:
    """The rule both ways on ``user``'s installments, one statement; ``(id, new status)`` of each
    one it moved (RETURNING: PostgreSQL, and SQLite >= 3.35), for the status history and events."""
    prep = Installment._meta.get_field("due_date").get_db_prep_value
    params = {"cutoff": prep(cutoff, connection), "today": prep(today, connection),
              "user_id": Customer._meta.pk.get_db_prep_value(user.pk, connection)}
    with connection.cursor() as cursor:
        _overdue_rule(connection.vendor).execute(cursor, params)
        return [(Installment._meta.pk.to_python(pk), status) for pk, status in cursor.fetchall()]


# --- The overdue rule, for everyone: the sweep's installment passes -----------------------------

# Literal table names keep the SQL static (checked in debt/tests/test_sweep.py against db_table).
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
       (SELECT due_date FROM last), (SELECT id FROM last), ARRAY(SELECT id FROM marked)
"""
# The rule's remaining terms (the pause) are checked on the rows themselves, where the chunk visits
# the heap anyway: the candidates stay an index-only scan. Paused rows are passed over, not marked.
_MARK_SET = "SET status = 'OVERDUE', overdue_since = COALESCE(overdue_since, %(today)s)"
_MARK_INSTALLMENTS_SQL = _MARK_CHUNK_SQL.format(mark=f"""locked AS (
    SELECT ctid FROM plans_installment
    WHERE id = ANY(ARRAY(SELECT id FROM candidates)) AND status = 'UPCOMING' AND {OVERDUE_SQL}
    FOR NO KEY UPDATE SKIP LOCKED
), marked AS (
    UPDATE plans_installment {_MARK_SET}
    WHERE ctid = ANY(ARRAY(SELECT ctid FROM locked)) AND status = 'UPCOMING'
    RETURNING id
)""")  # noqa: S608 - built from constants only

# The same chunk as a plain UPDATE, tried first: when no repayment holds any of its rows (the
# usual case) it skips the separate lock step, which costs a WAL record per row. It runs under
# a short lock_timeout, below deadlock_timeout: if a row is held, the chunk gives up within
# milliseconds (delaying that repayment by no more) and is redone in the SKIP LOCKED form above.
_MARK_LOCK_TIMEOUT = "50ms"
_MARK_INSTALLMENTS_FAST_SQL = _MARK_CHUNK_SQL.format(mark=f"""marked AS (
    UPDATE plans_installment {_MARK_SET}
    WHERE ctid = ANY(ARRAY(SELECT ctid FROM plans_installment WHERE id = ANY(ARRAY(SELECT id FROM candidates))))
      AND status = 'UPCOMING' AND {OVERDUE_SQL}
    RETURNING id
)""")  # noqa: S608 - built from constants only
_LOCK_NOT_AVAILABLE = "55P03"

# OVERDUE installments that no longer meet the rule (a due date moved, the grace days raised, the
# plan's collection paused): back to UPCOMING, a chunk at a time in id order, the spell's length
# kept in max_days_past_due. Rare, so the scan is of the OVERDUE partial index, which carries the
# due date and the pause date (INCLUDE) so that finding none costs no heap visit.
_RESTORE_INSTALLMENTS_SQL = f"""
WITH candidates AS (
    SELECT id FROM plans_installment
    WHERE status = 'OVERDUE' AND {NOT_OVERDUE_SQL} AND id > %(after_id)s
    ORDER BY id
    LIMIT %(limit)s
), locked AS (
    SELECT ctid FROM plans_installment
    WHERE id = ANY(ARRAY(SELECT id FROM candidates)) AND status = 'OVERDUE' AND {NOT_OVERDUE_SQL}
    FOR NO KEY UPDATE SKIP LOCKED
), restored AS (
    UPDATE plans_installment
       SET status = 'UPCOMING', max_days_past_due = GREATEST(max_days_past_due, %(cutoff)s::date - due_date)
    WHERE ctid = ANY(ARRAY(SELECT ctid FROM locked)) AND status = 'OVERDUE'
    RETURNING 1
)
SELECT (SELECT count(*) FROM restored), (SELECT count(*) FROM candidates),
       (SELECT id FROM candidates ORDER BY id DESC LIMIT 1)
"""  # noqa: S608 - built from constants only


def installments_sweep_postgresql(*, cutoff: date, today: date, chunk_size: int) -> dict[str, int]:
    """The overdue rule over every installment, set-based, in chunks of ``chunk_size`` rows (each
    its own short transaction). Rows locked by a repayment or a plan are skipped (SKIP LOCKED):
    that transaction applies the same rule itself (``debt_status_refresh``)."""
    return {"installments_marked_overdue": _mark_postgresql(cutoff, today, chunk_size),
            "installments_restored_upcoming": _restore_postgresql(cutoff, today, chunk_size)}


def _mark_postgresql(cutoff: date, today: date, chunk_size: int) -> int:
    total = 0
    after_due, after_id = date.min, _ZERO_UUID
    while True:
        params: dict[str, Any] = {"cutoff": cutoff, "today": today, "after_due": after_due, "after_id": after_id,
                                  "limit": chunk_size}
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{_MARK_LOCK_TIMEOUT}'")
                cursor.execute(_MARK_INSTALLMENTS_FAST_SQL, params)
                marked, seen, last_due, last_id, marked_ids = cursor.fetchone()
                record_overdue_set_based(marked_ids, cutoff=cutoff, today=today)
        except OperationalError as exc:
            if getattr(exc.__cause__, "pgcode", None) != _LOCK_NOT_AVAILABLE:
                raise
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_MARK_INSTALLMENTS_SQL, params)
                marked, seen, last_due, last_id, marked_ids = cursor.fetchone()
                record_overdue_set_based(marked_ids, cutoff=cutoff, today=today)
        total += marked
        if seen < chunk_size:
            return total
        after_due, after_id = last_due, last_id


def _restore_postgresql(cutoff: date, today: date, chunk_size: int) -> int:
    total, after_id = 0, _ZERO_UUID
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_RESTORE_INSTALLMENTS_SQL,
                           {"cutoff": cutoff, "today": today, "after_id": after_id, "limit": chunk_size})
            restored, seen, last_id = cursor.fetchone()
        total += restored
        if seen < chunk_size:
            return total
        after_id = last_id


def installments_sweep_orm(*, cutoff: date, today: date, chunk_size: int) -> dict[str, int]:
    """The same passes with the ORM's set-based ``update()`` (SQLite: one writer at a time, no row locks)."""
    rule = overdue_q(cutoff=cutoff, today=today)
    due = Installment.objects.filter(rule, status=InstallmentStatus.UPCOMING)
    not_due = Installment.objects.filter(~rule, status=InstallmentStatus.OVERDUE)
    return {
        "installments_marked_overdue": update_in_chunks(
            Installment.objects, due.order_by("due_date", "pk"), chunk_size, on_changed=record_overdue,
            status=InstallmentStatus.OVERDUE, overdue_since=Coalesce(F("overdue_since"), Value(today))),
        "installments_restored_upcoming": update_in_chunks(
            Installment.objects, not_due.order_by("pk"), chunk_size, status=InstallmentStatus.UPCOMING,
            max_days_past_due=Greatest(F("max_days_past_due"), DaysBetween(Value(cutoff), F("due_date")),
                                       output_field=IntegerField())),
    }


def update_in_chunks(manager, candidates, chunk_size: int, on_changed=None, **values) -> int:
    """``UPDATE ... WHERE pk IN (first chunk_size candidates)`` until none is left; each chunk
    leaves the candidate set, so this ends. ``on_changed(ids)`` runs in each chunk's transaction
    (SQLite has one writer at a time, so the ids read are the rows updated)."""
    total = 0
    while True:
        with transaction.atomic():
            ids = list(candidates.values_list("pk", flat=True)[:chunk_size])
            changed = manager.filter(pk__in=ids).update(**values)
            if on_changed is not None:
                on_changed(ids)
        total += changed
        if changed < chunk_size:
            return total


# --- Late fees: the sweep's fee pass, after the marking pass (API.md §13) --------------------

# One chunk of OVERDUE installments: those of the next users (in user order, from where the last
# chunk ended: range scans of installment_user_overdue_idx, which carries the due date, with no
# sort), at least ``limit`` rows unless none are left; and the fee steps each has reached (days
# past due = cutoff - due date, the cutoff being today - grace) and has no fee row for. Every later
# lookup joins on those rows' ids and checks the status only on the locked row (primary-key
# probes): right after the marking pass the statistics still say "no OVERDUE rows", and a plan
# built on that guess would scan the whole partial index for every row. Their plans, then the
# installments, are locked without waiting (SKIP LOCKED, in the lock order; a repayment or a waiver
# holding one is caught by the next sweep); a locked row is its latest version, so one no longer
# OVERDUE drops out. Each step is cut to what is left under the plan's cap (fees in due-date,
# sequence, step order), and skipped when nothing is. The fee rows are inserted ON CONFLICT DO
# NOTHING against the unique (installment, step) constraint, and only the rows really inserted move
# the installments' and the plans' fee_amount. Returns the inserted fees, with each plan's
# outstanding amount after each of them, for the journal.
_ASSESS_FEES_SQL = """
WITH steps (days, amount) AS (
    SELECT * FROM unnest(%(step_days)s::int[], %(step_amounts)s::bigint[])
), next_rows AS MATERIALIZED (
    SELECT user_id FROM plans_installment
    WHERE status = 'OVERDUE' AND user_id > %(after_user)s
    ORDER BY user_id
    LIMIT %(limit)s
), bound AS MATERIALIZED (
    SELECT (SELECT count(*) FROM next_rows) AS seen,
           (SELECT user_id FROM next_rows ORDER BY user_id DESC LIMIT 1) AS last_user
), candidates AS MATERIALIZED (
    SELECT i.id FROM plans_installment AS i
    WHERE i.status = 'OVERDUE' AND i.user_id > %(after_user)s AND i.user_id <= (SELECT last_user FROM bound)
      AND i.due_date <= %(first_step_day)s
), due AS MATERIALIZED (
    SELECT i.id AS installment_id, i.plan_id, i.user_id, i.due_date, i.sequence, s.days, s.amount
      FROM candidates AS c JOIN plans_installment AS i ON i.id = c.id
      JOIN steps AS s ON i.due_date <= %(cutoff)s - s.days
     WHERE NOT EXISTS (SELECT 1 FROM plans_latefee AS f WHERE f.installment_id = i.id AND f.step_days = s.days)
), locked AS MATERIALIZED (
    SELECT d.installment_id, d.plan_id, d.user_id, d.due_date, d.sequence, d.days, d.amount, i.status,
           p.merchant_id, p.total_amount * %(cap_percent)s / 100 - p.fee_amount AS room,
           p.total_amount + p.fee_amount - p.fee_waived_amount - p.paid_amount - p.refunded_amount AS outstanding
      FROM due AS d JOIN plans_plan AS p ON p.id = d.plan_id JOIN plans_installment AS i ON i.id = d.installment_id
       FOR NO KEY UPDATE OF p, i SKIP LOCKED
), priced AS (
    SELECT *, SUM(amount) OVER (PARTITION BY plan_id ORDER BY due_date, sequence, installment_id, days) AS running
      FROM locked WHERE status = 'OVERDUE'
), inserted AS MATERIALIZED (
    INSERT INTO plans_latefee (id, installment_id, plan_id, user_id, step_days, amount, business_date, created_at)
    SELECT gen_random_uuid(), installment_id, plan_id, user_id, days,
           LEAST(amount, GREATEST(room - (running - amount), 0)), %(today)s, now()
      FROM priced
     WHERE room - (running - amount) > 0
    ON CONFLICT (installment_id, step_days) DO NOTHING
    RETURNING id, installment_id, plan_id, user_id, step_days, amount
), installments_updated AS (
    UPDATE plans_installment AS i SET fee_amount = i.fee_amount + s.fee
      FROM (SELECT installment_id, SUM(amount) AS fee FROM inserted GROUP BY installment_id) AS s
     WHERE i.id = s.installment_id
), plans_updated AS (  -- (a data-modifying CTE runs to completion whether or not it is read)
    UPDATE plans_plan AS p SET fee_amount = p.fee_amount + s.fee
      FROM (SELECT plan_id, SUM(amount) AS fee FROM inserted GROUP BY plan_id) AS s
     WHERE p.id = s.plan_id
), plan_info AS MATERIALIZED (
    SELECT DISTINCT plan_id, merchant_id, outstanding FROM locked
)
SELECT (SELECT seen FROM bound), (SELECT last_user FROM bound),
       ARRAY(SELECT id FROM inserted), ARRAY(SELECT installment_id FROM inserted),
       ARRAY(SELECT plan_id FROM inserted), ARRAY(SELECT user_id FROM inserted),
       ARRAY(SELECT step_days FROM inserted), ARRAY(SELECT amount FROM inserted),
       ARRAY(SELECT plan_id FROM plan_info), ARRAY(SELECT merchant_id FROM plan_info),
       ARRAY(SELECT outstanding FROM plan_info)
"""


def fees_sweep(*, today: date, cutoff: date, chunk_size: int) -> dict[str, int]:
    """The fee pass: every ``BNPL_LATE_FEES`` step each OVERDUE installment has reached (days past
    due = ``cutoff`` - due date), assessed once (the unique constraint on (installment, step)),
    within the plan's cap, as a late fee row, its ``fee_assessed`` journal transaction and its
    ``fee.assessed`` event, in chunks of ``chunk_size`` installments (each its own transaction).
    Runs after the marking pass, so only what the overdue rule keeps OVERDUE accrues fees.
    Fees off (no steps): nothing at all, not even a query."""
    steps = late_fee_steps()
    if not steps:
        return {}
    if connection.vendor == "postgresql":
        return {"fees_assessed": _fees_postgresql(steps, today, cutoff, chunk_size)}
    return {"fees_assessed": _fees_orm(steps, today, cutoff, chunk_size)}


def _fees_postgresql(steps: list[tuple[int, int]], today: date, cutoff: date, chunk_size: int) -> int:
    total, after_user = 0, _ZERO_UUID
    params: dict[str, Any] = {
        "step_days": [days for days, _ in steps], "step_amounts": [amount for _, amount in steps],
        "first_step_day": cutoff - timedelta(days=steps[0][0]), "cutoff": cutoff, "today": today,
        "cap_percent": settings.BNPL_LATE_FEE_CAP_PERCENT, "limit": chunk_size}
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_ASSESS_FEES_SQL, {**params, "after_user": after_user})
            seen, last_user, *columns = cursor.fetchone()
            fees = _assessed(*columns)
            journal_fees_assessed(fees=fees, business_date=today)
            # fee.assessed built by the database, as installment.overdue (record_overdue_set_based).
            event_record_select(type="fee.assessed", object_ids=[f.fee_id for f in fees],
                                select_sql=_fee_event_sql(), params={"cutoff": cutoff, "today": today,
                                                                      "currency": currency()})
        total += len(fees)
        if seen < chunk_size:
            return total
        after_user = last_user


def _assessed(ids, installment_ids, plan_ids, user_ids, step_days, amounts, info_plans, merchants,
              outstanding) -> list[AssessedFee]:
    """The fees one chunk inserted, each with its plan's merchant and its plan's outstanding amount
    right after it (the plan's before the chunk plus its fees so far, in installment and step order)."""
    plan_merchant = dict(zip(info_plans, merchants, strict=True))
    plan_owed = dict(zip(info_plans, outstanding, strict=True))
    fees = []
    for fee_id, installment_id, plan_id, user_id, _, amount in sorted(
            zip(ids, installment_ids, plan_ids, user_ids, step_days, amounts, strict=True),
            key=lambda row: (row[2], row[1], row[4])):
        plan_owed[plan_id] += amount
        fees.append(AssessedFee(fee_id, installment_id, plan_id, user_id, plan_merchant[plan_id], amount,
                                int(plan_owed[plan_id])))
    return fees


def _fees_orm(steps: list[tuple[int, int]], today: date, cutoff: date, chunk_size: int) -> int:
    """The same pass with the ORM (SQLite: one writer at a time, so no row locks): a chunk of
    OVERDUE installments at a time, their fee rows inserted with INSERT OR IGNORE against the same
    unique constraint, and only the rows that went in move the amounts."""
    total, after_id = 0, _ZERO_UUID
    first_step_day = cutoff - timedelta(days=steps[0][0])
    while True:
        with transaction.atomic():
            chunk = list(Installment.objects.filter(status=InstallmentStatus.OVERDUE, due_date__lte=first_step_day,
                                                    pk__gt=after_id).order_by("pk")[:chunk_size])
            total += _assess_orm(chunk, steps, today, cutoff)
        if len(chunk) < chunk_size:
            return total
        after_id = chunk[-1].pk


def _assess_orm(chunk: list[Installment], steps: list[tuple[int, int]], today: date, cutoff: date) -> int:
    if not chunk:
        return 0
    done = set(LateFee.objects.filter(installment__in=chunk).values_list("installment_id", "step_days"))
    plans = {p.pk: p for p in Plan.objects.filter(pk__in={i.plan_id for i in chunk})}
    room = {pk: late_fee_cap(p.total_amount) - p.fee_amount for pk, p in plans.items()}
    rows = []
    for installment in sorted(chunk, key=lambda i: (i.due_date, i.sequence, i.pk)):
        for days, amount in steps:
            if (cutoff - installment.due_date).days < days or (installment.pk, days) in done:
                continue
            fee = min(amount, room[installment.plan_id])
            if fee > 0:
                room[installment.plan_id] -= fee
                rows.append(LateFee(installment=installment, plan_id=installment.plan_id, user_id=installment.user_id,
                                    step_days=days, amount=fee, business_date=today))
    LateFee.objects.bulk_create(rows, ignore_conflicts=True)
    inserted = {f.pk: f for f in LateFee.objects.filter(pk__in=[r.pk for r in rows])}
    fees, by_installment = [], {i.pk: i for i in chunk}
    for row in rows:
        if row.pk not in inserted:
            continue
        installment, plan = by_installment[row.installment_id], plans[row.plan_id]
        installment.fee_amount += row.amount
        plan.fee_amount += row.amount
        fees.append(AssessedFee(row.pk, installment.pk, plan.pk, plan.user_id, plan.merchant_id, row.amount,
                                plan.outstanding_amount))
    Installment.objects.bulk_update([by_installment[f.installment_id] for f in fees], ["fee_amount"])
    Plan.objects.bulk_update(list({f.plan_id: plans[f.plan_id] for f in fees}.values()), ["fee_amount"])
    journal_fees_assessed(fees=fees, business_date=today)
    _record_fees_assessed([f.fee_id for f in fees])
    return len(fees)


def _record_fees_assessed(fee_ids: list) -> None:
    """``fee.assessed`` for the fees just assessed (API.md §14), one INSERT per thousand: a chunk of
    the sweep may assess tens of thousands, and their objects and payloads are held a batch at a time."""
    for start in range(0, len(fee_ids), _FEE_EVENT_BATCH):
        fees = (LateFee.objects.filter(pk__in=fee_ids[start:start + _FEE_EVENT_BATCH]).select_related("installment")
                .annotate(merchant_id=F("plan__merchant_id")).order_by("pk"))
        event_record_many(type="fee.assessed", items=((f, f.merchant_id) for f in fees))


_FEE_EVENT_BATCH = 1000


# --- Late fees: an operator's waiver ------------------------------------------------------------

def installment_fees_waived(*, installment: Installment, plan: Plan) -> int:
    """Waive what is left of ``installment``'s late fees (the caller holds the user's, the plan's
    and the installment's locks and journals it); the installment settles (PAID or CANCELLED if
    nothing else is outstanding) and the plan's totals follow. Returns the amount waived."""
    assert connection.in_atomic_block, "installment_fees_waive needs the caller's locks"
    amount = installment.fees_outstanding
    before = installment.fee_waived_amount
    installment.fee_waived_amount += amount
    installments_settle(installments=[installment], plans_before={plan.pk: plan.status})
    status_changes_record(changes=[StatusChange(ObjectType.INSTALLMENT, installment.pk, format_minor(before),
                                                format_minor(installment.fee_waived_amount),
                                                field="fee_waived_amount")])
    return amount
