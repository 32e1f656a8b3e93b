"""Reconciliation: the journal balances and every stored plan and installment amount equals it.

Set-based SQL, one aggregate statement per check, so memory does not grow with the tables: only
the first :data:`MAX_REPORTED` mismatches of each check come back to Python. The plan and
installment tables are named in the SQL (not imported): this app sits below ``plans`` and
checks the caches that app keeps.
"""
import logging
import time

from django.db import connection
from django.utils import timezone

from ledger.compat import format_minor
from ledger.models import ReconciliationRun

logger = logging.getLogger(__name__)

MAX_REPORTED = 100
# Plans in these statuses owe nothing yet (or never will): the journal has nothing for them.
NOT_OPENED_PLAN_STATUSES = ("PENDING_CONFIRMATION", "DECLINED", "EXPIRED")

# Every journal transaction: at least two entries, summing to zero, its amount = its debits.
_TRANSACTIONS_SQL = f"""
SELECT id, balance, entries, debits, amount, COUNT(*) OVER () FROM (
    SELECT t.id, t.amount, COALESCE(SUM(e.amount), 0) AS balance, COUNT(e.id) AS entries,
           COALESCE(SUM(CASE WHEN e.amount > 0 THEN e.amount ELSE 0 END), 0) AS debits
      FROM ledger_journaltransaction AS t LEFT JOIN ledger_journalentry AS e ON e.transaction_id = t.id
     GROUP BY t.id, t.amount
) AS s
WHERE balance <> 0 OR entries < 2 OR debits <> amount
LIMIT {MAX_REPORTED}
"""  # noqa: S608 - constants only

# The receivable lines of each kind, per installment (or per plan): what the caches must equal.
_JOURNAL_SUMS = """
    SUM(CASE WHEN kind = 'plan_opened' THEN amount ELSE 0 END) AS amount,
    -SUM(CASE WHEN kind IN ('repayment', 'repayment_reversed') THEN amount ELSE 0 END) AS paid,
    -SUM(CASE WHEN kind = 'refund_applied' THEN amount ELSE 0 END) AS refunded
"""
_NOT_OPENED = ", ".join(f"'{s}'" for s in NOT_OPENED_PLAN_STATUSES)


def _cache_vs_journal_sql(table: str, key: str, amount_column: str, plan_status: str, join: str) -> str:
    return f"""
SELECT id, expected_amount, stored_paid, stored_refunded, journal_amount, journal_paid, journal_refunded,
       COUNT(*) OVER () FROM (
    SELECT x.id, x.{amount_column} AS stored_amount, x.paid_amount AS stored_paid,
           x.refunded_amount AS stored_refunded,
           CASE WHEN {plan_status} IN ({_NOT_OPENED}) THEN 0 ELSE x.{amount_column} END AS expected_amount,
           COALESCE(j.amount, 0) AS journal_amount, COALESCE(j.paid, 0) AS journal_paid,
           COALESCE(j.refunded, 0) AS journal_refunded
      FROM {table} AS x {join}
      LEFT JOIN (SELECT {key}, {_JOURNAL_SUMS} FROM ledger_journalentry
                  WHERE account = 'receivable' AND {key} IS NOT NULL GROUP BY {key}) AS j ON j.{key} = x.id
) AS s
WHERE expected_amount <> journal_amount OR stored_paid <> journal_paid OR stored_refunded <> journal_refunded
LIMIT {MAX_REPORTED}
"""  # noqa: S608 - constants only


_INSTALLMENTS_SQL = _cache_vs_journal_sql("plans_installment", "installment_id", "amount", "p.status",
                                          "JOIN plans_plan AS p ON p.id = x.plan_id")
_PLANS_SQL = _cache_vs_journal_sql("plans_plan", "plan_id", "total_amount", "x.status", "")

# Receivable lines that name an installment which does not exist.
_ORPHANS_SQL = f"""
SELECT e.installment_id, COUNT(*) OVER () FROM ledger_journalentry AS e
  LEFT JOIN plans_installment AS i ON i.id = e.installment_id
 WHERE e.installment_id IS NOT NULL AND i.id IS NULL
 LIMIT {MAX_REPORTED}
"""  # noqa: S608 - constants only

_FIELDS = (("amount", 1, 4), ("paid_amount", 2, 5), ("refunded_amount", 3, 6))


def _cache_mismatches(cursor, sql: str, object_type: str) -> tuple[list[dict], int]:
    """Mismatching rows of one cache; ``stored`` of ``amount`` is what the journal should hold
    (0 for a plan not opened: pending, declined or expired)."""
    cursor.execute(sql)
    rows = cursor.fetchall()
    out = [{"type": object_type, "id": str(row[0]), "field": name,
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
        with connection.cursor() as cursor:
            mismatches: list[dict] = []
            count = 0
            cursor.execute(_TRANSACTIONS_SQL)
            rows = cursor.fetchall()
            for tx_id, balance, entries, debits, amount, _ in rows:
                mismatches.append({"type": "transaction", "id": str(tx_id), "balance": format_minor(balance),
                                   "entries": entries, "debits": format_minor(debits),
                                   "amount": format_minor(amount)})
            count += rows[0][-1] if rows else 0
            for sql, object_type in ((_INSTALLMENTS_SQL, "installment"), (_PLANS_SQL, "plan")):
                found, total = _cache_mismatches(cursor, sql, object_type)
                mismatches += found
                count += total
            cursor.execute(_ORPHANS_SQL)
            rows = cursor.fetchall()
            mismatches += [{"type": "entry", "installment_id": str(r[0]), "field": "installment_id",
                            "detail": "no such installment"} for r in rows]
            count += rows[0][-1] if rows else 0
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
