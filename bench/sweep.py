"""Overdue sweep benchmark (run by hand, not in CI).

Seeds N installments straight into PostgreSQL (generate_series; ~30% past due; N/10 users with
two plans of five installments each) in a separate database, then times the sweep service
against the bare set-based SQL doing the same updates on the same data, resetting between runs.
The same updates include the outbox (API.md §14): the sweep writes an ``installment.overdue`` row
for each installment it marks and a ``user.status_changed`` row for each user whose status
changes, in the same transactions, so the bare statements write those rows too (their data built
by ``jsonb_build_object``), and both sides must end with the same counts of them.

    .venv/bin/python bench/sweep.py --installments 100000 --runs 5
    .venv/bin/python bench/sweep.py --installments 1000000 --runs 3
    .venv/bin/python bench/sweep.py --installments 1000000 --runs 3 --fees 1:10000.00,8:7000.00

``--fees STEPS``: late fees on (``BNPL_LATE_FEES=STEPS`` for the sweep, cap 25 %); installments
are then 100,000.00 each so the cap does not bind, and the bare side also inserts the fee rows,
adds them to the installments and plans, and writes their journal transactions and entries and
their ``fee.assessed`` outbox rows, in one plain statement.

PostgreSQL comes from BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bnpl_bench);
the database is created and migrated (`manage.py migrate`) if needed. The sweep runs in a child
process so its peak memory (ru_maxrss, whole interpreter with Django) and the Python allocation
peak inside the sweep (tracemalloc) are its own.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bnpl_bench"
TODAY = date(2026, 6, 15)

# The same three updates as plain statements: no chunks, no row locks, no keyset, no round trips.
# The EXISTS probes carry the sweep's "OFFSET 0" (per-row index probes): without it the planner,
# trusting statistics taken before the mark pass ("no OVERDUE rows"), sometimes picks a plan that
# rescans the whole partial index per user and the bare statement runs for minutes.
_MONEY = "(({})::numeric / 100)::numeric(38, 2)::text"


def _bare_installment_json(a: str) -> str:
    """The installment as the API shows it, built by ``jsonb_build_object`` (the bare side's outbox data)."""
    def money(expression: str) -> str:
        return _MONEY.format(expression)
    return f"""jsonb_build_object(
        'id', {a}.id, 'sequence', {a}.sequence, 'due_date', {a}.due_date, 'amount', {money(a + ".amount")},
        'paid_amount', {money(a + ".paid_amount")}, 'refunded_amount', {money(a + ".refunded_amount")},
        'outstanding_amount', {money(f"{a}.amount + {a}.fee_amount - {a}.fee_waived_amount - {a}.paid_amount"
                                     f" - {a}.refunded_amount")},
        'fee_amount', {money(a + ".fee_amount")}, 'fee_paid_amount', {money(a + ".fee_paid_amount")},
        'fee_waived_amount', {money(a + ".fee_waived_amount")}, 'status', {a}.status, 'paid_at', {a}.paid_at,
        'overdue_since', {a}.overdue_since, 'days_past_due', %(cutoff)s::date - {a}.due_date,
        'max_days_past_due', GREATEST({a}.max_days_past_due, %(cutoff)s::date - {a}.due_date),
        'extended_days', {a}.extended_days)"""

BARE_SQL = [
    # The delinquency record (API.md §13) is written by the same marking (overdue_since), and each
    # installment marked writes its installment.overdue outbox row (§14) in the same statement, its
    # data the installment as the API shows it, built by jsonb_build_object.
    f"""WITH marked AS (
           UPDATE plans_installment SET status = 'OVERDUE', overdue_since = COALESCE(overdue_since, %(cutoff)s)
            WHERE status = 'UPCOMING' AND due_date < %(cutoff)s RETURNING *)
       INSERT INTO events_event (id, type, merchant_id, data, created_at)
       SELECT 'evt_' || upper(substr(md5(m.id::text || random()::text), 1, 26)), 'installment.overdue',
              p.merchant_id,
              {_bare_installment_json('m')} || jsonb_build_object('plan_id', m.plan_id, 'user_id', m.user_id), now()
         FROM marked AS m JOIN plans_plan AS p ON p.id = m.plan_id""",
    # Each user whose status changes writes its user.status_changed row (masked, as the API shows it,
    # the available credit from what the user owes, summed as the sweep sums it).
    *(f"""WITH changed AS (
           UPDATE users_customer AS c SET status = '{new}' WHERE c.status = '{old}'
              AND {exists} (SELECT 1 FROM plans_installment AS i WHERE i.user_id = c.id AND i.status = 'OVERDUE'
                            OFFSET 0) RETURNING c.*)
       INSERT INTO events_event (id, type, merchant_id, data, created_at)
       SELECT 'evt_' || upper(substr(md5(c.id::text || random()::text), 1, 26)), 'user.status_changed', NULL,
              jsonb_build_object('id', c.id, 'full_name', c.full_name, 'phone_number', c.phone_mask,
                                 'passport_number', c.passport_mask, 'date_of_birth', c.date_of_birth_mask,
                                 'card_number', c.card_mask, 'status', c.status,
                                 'credit_limit', {_MONEY.format("c.credit_limit")},
                                 'available_credit', CASE WHEN c.credit_limit IS NULL THEN NULL ELSE
                                     {_MONEY.format("GREATEST(c.credit_limit - COALESCE(o.owed, 0), 0)")} END,
                                 'created_at', c.created_at), now()
         FROM changed AS c
         LEFT JOIN (SELECT i.user_id, SUM(i.amount + i.fee_amount - i.fee_waived_amount - i.paid_amount
                                          - i.refunded_amount) AS owed
                      FROM plans_installment AS i WHERE i.user_id IN (SELECT id FROM changed)
                     GROUP BY i.user_id) AS o ON o.user_id = c.id"""
      for old, new, exists in (("NORMAL", "DEBT_USER", "EXISTS"), ("DEBT_USER", "NORMAL", "NOT EXISTS"))),
]


# The fee pass as one plain statement: every step each OVERDUE installment has reached, cut to the
# plan's cap, inserted once (ON CONFLICT DO NOTHING), added to installments and plans, journalled.
BARE_FEES_SQL = """
WITH steps (days, amount) AS (SELECT * FROM unnest(%(step_days)s::int[], %(step_amounts)s::bigint[])),
due AS (
    SELECT i.id AS installment_id, i.plan_id, i.user_id, i.due_date, i.sequence, s.days, s.amount
      FROM plans_installment AS i JOIN steps AS s ON i.due_date <= %(cutoff)s - s.days
     WHERE i.status = 'OVERDUE'
       AND NOT EXISTS (SELECT 1 FROM plans_latefee AS f WHERE f.installment_id = i.id AND f.step_days = s.days)
), priced AS (
    SELECT d.*, p.merchant_id, p.total_amount * 25 / 100 - p.fee_amount AS room,
           p.total_amount + p.fee_amount - p.fee_waived_amount - p.paid_amount - p.refunded_amount AS outstanding,
           SUM(d.amount) OVER (PARTITION BY d.plan_id ORDER BY d.due_date, d.sequence, d.installment_id, d.days)
               AS running
      FROM due AS d JOIN plans_plan AS p ON p.id = d.plan_id
), inserted AS (
    INSERT INTO plans_latefee (id, installment_id, plan_id, user_id, step_days, amount, business_date, created_at)
    SELECT gen_random_uuid(), installment_id, plan_id, user_id, days,
           LEAST(amount, room - (running - amount)), %(cutoff)s, now()
      FROM priced WHERE room - (running - amount) > 0
    ON CONFLICT (installment_id, step_days) DO NOTHING
    RETURNING id, installment_id, plan_id, user_id, step_days, amount
), i_upd AS (
    UPDATE plans_installment AS i SET fee_amount = i.fee_amount + s.fee
      FROM (SELECT installment_id, SUM(amount) AS fee FROM inserted GROUP BY installment_id) AS s
     WHERE i.id = s.installment_id
), p_upd AS (
    UPDATE plans_plan AS p SET fee_amount = p.fee_amount + s.fee
      FROM (SELECT plan_id, SUM(amount) AS fee FROM inserted GROUP BY plan_id) AS s WHERE p.id = s.plan_id
), src AS MATERIALIZED (
    SELECT gen_random_uuid() AS tx_id, f.*, p.merchant_id,
           p.total_amount + p.fee_amount - p.fee_waived_amount - p.paid_amount - p.refunded_amount
           + SUM(f.amount) OVER (PARTITION BY f.plan_id ORDER BY f.installment_id, f.step_days) AS outstanding_after
      FROM inserted AS f JOIN plans_plan AS p ON p.id = f.plan_id
), ev AS (
    INSERT INTO events_event (id, type, merchant_id, data, created_at)
    SELECT 'evt_' || upper(substr(md5(f.id::text || random()::text), 1, 26)), 'fee.assessed', f.merchant_id,
           jsonb_build_object('id', f.id, 'installment_id', f.installment_id, 'plan_id', f.plan_id,
                              'user_id', f.user_id, 'days_past_due', f.step_days,
                              'amount', ((f.amount)::numeric / 100)::numeric(38, 2)::text, 'currency', 'UZS',
                              'business_date', %(cutoff)s::date, 'created_at', now(),
                              'installment', INSTALLMENT_JSON), now()
      FROM src AS f JOIN plans_installment AS i ON i.id = f.installment_id
), t AS (
    INSERT INTO ledger_journaltransaction (id, kind, plan_id, user_id, merchant_id, amount, business_date,
                                           source_type, source_id, outstanding_after, created_at)
    SELECT tx_id, 'fee_assessed', plan_id, user_id, merchant_id, amount, %(cutoff)s, 'late_fee', id,
           outstanding_after, now() FROM src
)
INSERT INTO ledger_journalentry (transaction_id, kind, account, plan_id, installment_id, user_id, merchant_id, amount)
SELECT tx_id, 'fee_assessed', 'fee_receivable', plan_id, installment_id, user_id, merchant_id, amount FROM src
UNION ALL
SELECT tx_id, 'fee_assessed', 'fee_income', plan_id, NULL, user_id, merchant_id, -amount FROM src
"""
BARE_FEES_SQL = BARE_FEES_SQL.replace("INSTALLMENT_JSON", _bare_installment_json("i"))


def parse_steps(raw: str) -> tuple[list[int], list[int]]:
    """``1:10000.00,8:7000.00`` as (days, minor units) for the bare statement (two places, UZS)."""
    from decimal import Decimal

    pairs = [item.split(":") for item in raw.split(",")]
    return [int(d) for d, _ in pairs], [int(Decimal(a) * 100) for _, a in pairs]


def connect(url: str, autocommit: bool = True) -> "PgConnection":
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = autocommit
    return conn


def ensure_database(url: str) -> None:
    parsed = urlparse(url)
    admin = connect(parsed._replace(path="/postgres").geturl())
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [parsed.path.lstrip("/")])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{parsed.path.lstrip("/")}"')
    admin.close()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bnpl.settings.local", "REDIS_URL": ""}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def seed(url: str, installments: int, layout: str, amount: int = 10000) -> None:
    """Users u (N/10), two plans each (N/5), five monthly installments per plan. Every 20th user
    starts DEBT_USER (most of them really are in debt; the few who are not get restored).

    ``realistic``: plans are inserted in creation order with start dates spread over the last 120
    days, installment k due start + k months, so the heap is in creation order as in production
    and ~30% of installments are past due. ``random``: the same rows with due dates hashed over
    -90..+209 days around today (also ~30% past due) with no relation to the physical order: the
    worst case for a chunked walk in due-date order.
    """
    users = max(installments // 10, 1)
    plans = users * 2
    if layout == "realistic":
        due = "(%(today)s::date - 120 + (p * 120) / %(plans)s + make_interval(months => s))::date"
    else:
        due = "%(today)s::date - 90 + (abs(hashtext(p || '-' || s)) %% 300)"
    conn = connect(url)
    with conn.cursor() as cursor:
        cursor.execute("TRUNCATE debt_repaymentallocation, debt_repayment, debt_sweeprun, plans_latefee, "
                       "plans_installment, plans_plan, users_customer, merchants_merchant, ledger_journalentry, "
                       "ledger_journaltransaction, events_event CASCADE")
        cursor.execute("""INSERT INTO merchants_merchant (id, name, webhook_secret, created_at)
                          VALUES ('00000000-0000-0000-0000-00000000beef', 'bench', 'x', now())""")
        cursor.execute("""
            INSERT INTO users_customer (id, full_name, phone_number, phone_hash, phone_mask, passport_number,
                passport_hash, passport_mask, date_of_birth, date_of_birth_mask, status, created_at, updated_at)
            SELECT md5('u' || g)::uuid, CASE WHEN g %% 20 = 0 THEN 'bench-debt' ELSE 'bench' END, 'x',
                   md5('p' || g), '+998****0000', 'x', md5('pp' || g), 'AB*******', 'x', '1990-**-**',
                   CASE WHEN g %% 20 = 0 THEN 'DEBT_USER' ELSE 'NORMAL' END, now(), now()
            FROM generate_series(1, %(users)s) AS g""", {"users": users})
        cursor.execute("""
            INSERT INTO plans_plan (id, user_id, merchant_id, total_amount, installment_count, start_date, status,
                paid_amount, refunded_amount, fee_amount, fee_paid_amount, fee_waived_amount, created_at)
            SELECT md5('pl' || g)::uuid, md5('u' || ((g - 1) / 2 + 1))::uuid,
                   '00000000-0000-0000-0000-00000000beef', 5 * %(amount)s, 5,
                   %(today)s::date - 120 + (g * 120) / %(plans)s, 'ACTIVE', 0, 0, 0, 0, 0, now()
            FROM generate_series(1, %(plans)s) AS g""", {"plans": plans, "today": TODAY, "amount": amount})
        cursor.execute(f"""
            INSERT INTO plans_installment (id, plan_id, user_id, sequence, due_date, amount, paid_amount,
                refunded_amount, fee_amount, fee_paid_amount, fee_waived_amount, status, max_days_past_due,
                extended_days)
            SELECT md5('i' || p || '-' || s)::uuid, md5('pl' || p)::uuid, md5('u' || ((p - 1) / 2 + 1))::uuid, s,
                   {due}, %(amount)s, 0, 0, 0, 0, 0, 'UPCOMING', 0, 0
            FROM generate_series(1, %(plans)s) AS p, generate_series(1, 5) AS s
            ORDER BY p, s""", {"plans": plans, "today": TODAY, "amount": amount})
        cursor.execute("VACUUM ANALYZE users_customer, plans_plan, plans_installment")
    conn.close()


def reset(url: str) -> None:
    conn = connect(url)
    with conn.cursor() as cursor:
        # The fees mode's rows (the journal refuses DELETE; TRUNCATE fires no row trigger).
        cursor.execute("TRUNCATE plans_latefee, ledger_journalentry, ledger_journaltransaction, events_event CASCADE")
        cursor.execute("UPDATE plans_installment SET fee_amount = 0 WHERE fee_amount <> 0")
        cursor.execute("UPDATE plans_plan SET fee_amount = 0 WHERE fee_amount <> 0")
        cursor.execute("UPDATE plans_installment SET status = 'UPCOMING', overdue_since = NULL "
                       "WHERE status = 'OVERDUE'")
        cursor.execute("""UPDATE users_customer SET status = CASE WHEN full_name = 'bench-debt' THEN 'DEBT_USER'
                          ELSE 'NORMAL' END
                          WHERE status <> CASE WHEN full_name = 'bench-debt' THEN 'DEBT_USER' ELSE 'NORMAL' END""")
        cursor.execute("DELETE FROM debt_sweeprun")
        cursor.execute("VACUUM ANALYZE users_customer, plans_installment, plans_plan, plans_latefee")
        cursor.execute("CHECKPOINT")
    conn.close()


def state(url: str) -> dict:
    conn = connect(url)
    with conn.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM plans_installment GROUP BY status")
        installments = dict(cursor.fetchall())
        cursor.execute("SELECT status, count(*) FROM users_customer GROUP BY status")
        users = dict(cursor.fetchall())
        cursor.execute("""SELECT (SELECT count(*) FROM plans_latefee),
                                 (SELECT COALESCE(SUM(amount), 0) FROM plans_latefee),
                                 (SELECT count(*) FROM ledger_journaltransaction WHERE kind = 'fee_assessed')""")
        fees, fee_total, fee_journal = cursor.fetchall()[0]
        cursor.execute("""SELECT type, count(*) FROM events_event GROUP BY type""")
        events = dict(cursor.fetchall())
    conn.close()
    return {"installments": installments, "users": users, "fees": fees, "fee_total": int(fee_total),
            "fee_journal": fee_journal, "events": events}


def run_bare(url: str, fees: str = "") -> dict:
    conn = connect(url)
    counts = []
    started = time.perf_counter()
    with conn.cursor() as cursor:
        for sql in BARE_SQL:
            cursor.execute(sql, {"cutoff": TODAY})
            counts.append(cursor.rowcount)
        if fees:
            days, amounts = parse_steps(fees)
            cursor.execute(BARE_FEES_SQL, {"cutoff": TODAY, "step_days": days, "step_amounts": amounts})
            counts.append(cursor.rowcount)
    seconds = time.perf_counter() - started
    conn.close()
    return {"seconds": seconds, "counts": counts}


def run_sweep_child(url: str, *, traced: bool, fees: str = "") -> dict:
    """The sweep once in a fresh process (``child()``); what it reports."""
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bnpl.settings.local", "REDIS_URL": "",
           "LOG_LEVEL": "WARNING", "BNPL_LATE_FEES": fees, "BNPL_LATE_FEE_CAP_PERCENT": "25"}
    flag = "--child" if traced else "--child-untraced"
    out = subprocess.run([sys.executable, __file__, flag], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def child(*, traced: bool) -> None:
    """In a fresh process: set up Django, run the sweep once, report time and memory.

    tracemalloc slows allocation-heavy code: the timed runs go without it (``traced=False``),
    one more run with it measures the Python allocation peak.
    """
    import resource
    import tracemalloc

    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from debt.services import sweep_overdue

    connection.ensure_connection()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    result = sweep_overdue(today=TODAY)
    seconds = time.perf_counter() - started
    report = {"seconds": seconds, "result": result,
              "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if traced:
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        report.update(maxrss_before_mb=rss_before / 1024, tracemalloc_peak_mb=traced_peak / 2**20)
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--installments", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--layout", choices=["realistic", "random"], default="realistic",
                        help="how due dates relate to the physical row order (see seed())")
    parser.add_argument("--no-seed", action="store_true", help="reuse the data already seeded")
    parser.add_argument("--fees", default="", help="late fees on: BNPL_LATE_FEES steps, e.g. 1:10000.00,8:7000.00")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-untraced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child or args.child_untraced:
        return child(traced=args.child)

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    ensure_database(url)
    if not args.no_seed:
        started = time.perf_counter()
        seed(url, args.installments, args.layout, amount=10_000_000 if args.fees else 10000)
        seconds = time.perf_counter() - started
        print(f"seeded {args.installments} installments ({args.layout}) in {seconds:.1f} s", flush=True)
    initial = state(url)
    print(f"initial: {initial}", flush=True)

    bare, sweep, rss, traced = [], [], [], []
    expected = None
    for run in range(args.runs):
        # Alternate which goes first so cache warmth does not favour one side.
        order = ["bare", "sweep"] if run % 2 == 0 else ["sweep", "bare"]
        for kind in order:
            reset(url)
            if kind == "bare":
                result = run_bare(url, args.fees)
                bare.append(result["seconds"])
                detail = f"counts={result['counts']}"
            else:
                result = run_sweep_child(url, traced=False, fees=args.fees)
                sweep.append(result["seconds"])
                rss.append(result["maxrss_mb"])
                counts = result["result"]
                detail = (f"marked={counts['installments_marked_overdue']} debt={counts['users_marked_debt']} "
                          f"restored={counts['users_restored']} fees={counts.get('fees_assessed', '-')} "
                          f"maxrss={result['maxrss_mb']:.1f}MB")
            after = state(url)
            assert expected is None or after == expected, (after, expected)  # both sides: same end state
            expected = after
            print(f"run {run + 1} {kind:5s} {result['seconds']:.3f} s  {detail}", flush=True)
    reset(url)
    traced_run = run_sweep_child(url, traced=True, fees=args.fees)
    traced.append(traced_run["tracemalloc_peak_mb"])
    assert state(url) == expected

    bare_median, sweep_median = statistics.median(bare), statistics.median(sweep)
    print(json.dumps({
        "installments": args.installments,
        "layout": args.layout,
        "fees": args.fees or None,
        "final_state": expected,
        "bare_sql_median_s": round(bare_median, 3),
        "sweep_median_s": round(sweep_median, 3),
        "ratio": round(sweep_median / bare_median, 3),
        "sweep_child_maxrss_mb": round(max(rss), 1),
        "sweep_tracemalloc_peak_mb": round(max(traced), 2),
        "runs": args.runs,
    }, indent=2))


if __name__ == "__main__":
    main()
