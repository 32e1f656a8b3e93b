"""Reconciliation: the journal balances and every stored plan and installment amount equals it.

Set-based SQL, one aggregate statement per check, so memory does not grow with the tables: only
the first :data:`MAX_REPORTED` mismatches of each check come back to Python. The plan and
installment tables are named in the SQL (not imported): this app sits below ``plans`` and
checks the caches that app keeps.
"""
import logging
import time
import uuid

from django.db import connection, transaction
from django.utils import timezone

from bnpl.money import format_minor
from ledger.models import ReconciliationRun

logger = logging.getLogger(__name__)

MAX_REPORTED = 100
WORK_MEM = "256MB"
# Plans in these statuses owe nothing yet (or never will): the journal has nothing for them.
NOT_OPENED_PLAN_STATUSES = ("PENDING_CONFIRMATION", "DECLINED", "EXPIRED")

# Every journal transaction: at least two entries, summing to zero, its amount = its debits.
# The entries are aggregated first (one sequential scan, hashed), then matched to the transactions.
_TRANSACTIONS_SQL = f"""
SELECT id, balance, entries, debits, amount, COUNT(*) OVER () FROM (
    SELECT COALESCE(t.id, e.transaction_id) AS id, COALESCE(t.amount, 0) AS amount,
           COALESCE(e.balance, 0) AS balance, COALESCE(e.entries, 0) AS entries, COALESCE(e.debits, 0) AS debits
      FROM ledger_journaltransaction AS t
      FULL JOIN (SELECT transaction_id, SUM(amount) AS balance, COUNT(*) AS entries,
                        SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END) AS debits
                   FROM ledger_journalentry GROUP BY transaction_id) AS e ON e.transaction_id = t.id
) AS s
WHERE balance <> 0 OR entries < 2 OR debits <> amount
LIMIT {MAX_REPORTED}
"""  # noqa: S608 - constants only

_NOT_OPENED = ", ".join(f"'{s}'" for s in NOT_OPENED_PLAN_STATUSES)

# Installments against the journal: the receivable and fee_receivable lines summed per installment
# (one scan of the entries), matched by a full join, so a line naming no installment shows up too.
# ``expected_amount`` is 0 for a plan that owes nothing yet (pending, declined, expired): the
# journal has nothing for it. ``paid_amount`` counts what paid late fees too (API.md §13).
_INSTALLMENTS_SQL = f"""
SELECT 'installment', id, stored_amount, stored_paid, stored_refunded, stored_fee, stored_fee_paid, stored_fee_waived,
       journal_amount, journal_paid, journal_refunded, journal_fee, journal_fee_paid, journal_fee_waived,
       COUNT(*) OVER () FROM (
    SELECT COALESCE(x.id, j.installment_id) AS id,
           COALESCE(x.expected_amount, 0) AS stored_amount, COALESCE(x.paid_amount, 0) AS stored_paid,
           COALESCE(x.refunded_amount, 0) AS stored_refunded, COALESCE(x.fee_amount, 0) AS stored_fee,
           COALESCE(x.fee_paid_amount, 0) AS stored_fee_paid, COALESCE(x.fee_waived_amount, 0) AS stored_fee_waived,
           COALESCE(j.amount, 0) AS journal_amount, COALESCE(j.paid, 0) AS journal_paid,
           COALESCE(j.refunded, 0) AS journal_refunded, COALESCE(j.fee, 0) AS journal_fee,
           COALESCE(j.fee_paid, 0) AS journal_fee_paid, COALESCE(j.fee_waived, 0) AS journal_fee_waived
      FROM (SELECT i.id, i.paid_amount, i.refunded_amount, i.fee_amount, i.fee_paid_amount, i.fee_waived_amount,
                   CASE WHEN p.status IN ({_NOT_OPENED}) THEN 0 ELSE i.amount END AS expected_amount
              FROM plans_installment AS i JOIN plans_plan AS p ON p.id = i.plan_id) AS x
      FULL JOIN (
            SELECT installment_id,
                   SUM(CASE WHEN kind = 'plan_opened' THEN amount ELSE 0 END) AS amount,
                   -SUM(CASE WHEN kind IN ('repayment', 'repayment_reversed') THEN amount ELSE 0 END) AS paid,
                   -SUM(CASE WHEN kind = 'refund_applied' THEN amount ELSE 0 END) AS refunded,
                   SUM(CASE WHEN kind = 'fee_assessed' THEN amount ELSE 0 END) AS fee,
                   -SUM(CASE WHEN kind IN ('repayment', 'repayment_reversed') AND account = 'fee_receivable'
                             THEN amount ELSE 0 END) AS fee_paid,
                   -SUM(CASE WHEN kind = 'fee_waived' THEN amount ELSE 0 END) AS fee_waived
              FROM ledger_journalentry WHERE account IN ('receivable', 'fee_receivable') GROUP BY installment_id
      ) AS j ON j.installment_id = x.id
) AS m
WHERE stored_amount <> journal_amount OR stored_paid <> journal_paid OR stored_refunded <> journal_refunded
   OR stored_fee <> journal_fee OR stored_fee_paid <> journal_fee_paid OR stored_fee_waived <> journal_fee_waived
LIMIT {MAX_REPORTED}
"""  # noqa: S608 - constants only

# Plans against their installments: with every installment equal to the journal (above), a plan
# equal to the sum of its installments equals the journal too; one scan of the installments.
_PLANS_SQL = f"""
SELECT 'plan', x.id, CASE WHEN x.status IN ({_NOT_OPENED}) THEN 0 ELSE x.total_amount END, x.paid_amount,
       x.refunded_amount, x.fee_amount, x.fee_paid_amount, x.fee_waived_amount,
       CASE WHEN x.status IN ({_NOT_OPENED}) THEN 0 ELSE COALESCE(s.amount, 0) END,
       COALESCE(s.paid, 0), COALESCE(s.refunded, 0), COALESCE(s.fee, 0), COALESCE(s.fee_paid, 0),
       COALESCE(s.fee_waived, 0), COUNT(*) OVER ()
  FROM plans_plan AS x
  LEFT JOIN (SELECT plan_id, SUM(amount) AS amount, SUM(paid_amount) AS paid, SUM(refunded_amount) AS refunded,
                    SUM(fee_amount) AS fee, SUM(fee_paid_amount) AS fee_paid, SUM(fee_waived_amount) AS fee_waived
               FROM plans_installment GROUP BY plan_id) AS s ON s.plan_id = x.id
 WHERE CASE WHEN x.status IN ({_NOT_OPENED}) THEN 0 ELSE x.total_amount END <> COALESCE(s.amount, 0)
    OR x.paid_amount <> COALESCE(s.paid, 0)
    OR x.refunded_amount <> COALESCE(s.refunded, 0)
    OR x.fee_amount <> COALESCE(s.fee, 0)
    OR x.fee_paid_amount <> COALESCE(s.fee_paid, 0)
    OR x.fee_waived_amount <> COALESCE(s.fee_waived, 0)
 LIMIT {MAX_REPORTED}
"""  # noqa: S608 - constants only

_FIELDS = (("amount", 2, 8), ("paid_amount", 3, 9), ("refunded_amount", 4, 10), ("fee_amount", 5, 11),
           ("fee_paid_amount", 6, 12), ("fee_waived_amount", 7, 13))


def _uuid(value) -> str | None:
    """An id as the API spells it (SQLite hands raw SQL its 32 hex digits)."""
    return str(uuid.UUID(str(value))) if value is not None else None


def _cache_mismatches(cursor, sql: str) -> tuple[list[dict], int]:
    """Mismatching caches; ``stored`` of ``amount`` is what the journal should hold."""
    cursor.execute(sql)
    rows = cursor.fetchall()
    out = [{"type": row[0], "id": _uuid(row[1]), "field": name,
            "stored": format_minor(row[stored]), "journal": format_minor(row[journal])}
           for row in rows for name, stored, journal in _FIELDS if row[stored] != row[journal]]
    return out, (rows[0][-1] if rows else 0)


def reconcile() -> dict:
    """Run every check, record the run (:class:`ReconciliationRun`) and return the JSON-able result:
    ``{"plans_checked", "installments_checked", "transactions_checked", "mismatches", "mismatch_count",
    "duration_ms"}``. ``mismatches`` lists at most 100 per check; ``mismatch_count`` is exact."""
    started_at, clock = timezone.now(), time.monotonic()
    run = ReconciliationRun.objects.create(started_at=started_at)
    try:
        outermost = not connection.in_atomic_block
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # One snapshot for every check (when this is the transaction: a caller's own one, as in
                # a test, keeps its level), and room to hash the aggregates in memory (server side).
                if outermost:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
                # Every check reads whole tables: sequential scans and hashes, never a walk in index
                # order (random heap reads, 5x slower at a million rows); and no JIT, whose compile
                # time (about 10 s here) is more than it saves on these plain aggregates.
                cursor.execute("SET LOCAL enable_indexscan = off")
                cursor.execute("SET LOCAL jit = off")
            mismatches: list[dict] = []
            count = 0
            cursor.execute(_TRANSACTIONS_SQL)
            rows = cursor.fetchall()
            for tx_id, balance, entries, debits, amount, _ in rows:
                mismatches.append({"type": "transaction", "id": _uuid(tx_id), "balance": format_minor(balance),
                                   "entries": entries, "debits": format_minor(debits),
                                   "amount": format_minor(amount)})
            count += rows[0][-1] if rows else 0
            for sql in (_INSTALLMENTS_SQL, _PLANS_SQL):
                found, total = _cache_mismatches(cursor, sql)
                mismatches += found
                count += total
            cursor.execute("SELECT (SELECT COUNT(*) FROM plans_plan), (SELECT COUNT(*) FROM plans_installment), "
                           "(SELECT COUNT(*) FROM ledger_journaltransaction)")
            plans, installments, transactions = cursor.fetchone()
    except Exception as exc:
        run.finished_at, run.error = timezone.now(), type(exc).__name__
        run.duration_ms = round((time.monotonic() - clock) * 1000)
        run.save()
        raise
    run.finished_at = timezone.now()
    run.duration_ms = round((time.monotonic() - clock) * 1000)
    run.plans_checked, run.installments_checked, run.transactions_checked = plans, installments, transactions
    run.mismatch_count, run.mismatches = count, mismatches
    run.save()
    result = {"plans_checked": plans, "installments_checked": installments, "transactions_checked": transactions,
              "mismatches": mismatches, "mismatch_count": count, "duration_ms": run.duration_ms}
    log = logger.warning if count else logger.info
    log("reconciliation finished", extra={"reconciliation": {k: v for k, v in result.items() if k != "mismatches"}})
    return result
