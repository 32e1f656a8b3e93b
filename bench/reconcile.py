"""Reconciliation benchmark (run by hand, not in CI).

Seeds N installments straight into PostgreSQL with their journal: N/10 users, two plans each,
five installments per plan, a ``plan_opened`` per plan (six entries) and a ``repayment`` of the
first installment of every plan (three entries), so the journal holds 0.4 N transactions and
1.6 N entries. Then runs ``manage.py reconcile`` in a child process and reports its wall time,
its peak memory (ru_maxrss of the child: the whole interpreter with Django) and its result.

    /work/main/.venv/bin/python bench/reconcile.py --installments 1000000 --runs 3

PostgreSQL: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bnpl_bench_ledger).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import machine  # noqa: E402
from bench.sweep import connect, ensure_database  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bnpl_bench_ledger"
INSTALLMENT = 10000  # minor units


def seed(url: str, installments: int, mismatches: int) -> None:
    users = max(installments // 10, 1)
    plans = users * 2
    conn = connect(url)
    with conn.cursor() as cursor:
        cursor.execute("TRUNCATE ledger_journalentry, ledger_journaltransaction, ledger_reconciliationrun, "
                       "debt_repaymentallocation, debt_repayment, plans_installment, plans_plan, users_customer, "
                       "merchants_merchant CASCADE")
        cursor.execute("""INSERT INTO merchants_merchant (id, name, webhook_secret, created_at)
                          VALUES ('00000000-0000-0000-0000-00000000beef', 'bench', 'x', now())""")
        cursor.execute("""
            INSERT INTO users_customer (id, full_name, phone_number, phone_hash, phone_mask, passport_number,
                passport_hash, passport_mask, date_of_birth, date_of_birth_mask, status, created_at, updated_at)
            SELECT md5('u' || g)::uuid, 'bench', 'x', md5('p' || g), '+998****0000', 'x', md5('pp' || g),
                   'AB*******', 'x', '1990-**-**', 'NORMAL', now(), now()
            FROM generate_series(1, %(users)s) AS g""", {"users": users})
        cursor.execute("""
            INSERT INTO plans_plan (id, user_id, merchant_id, total_amount, installment_count, start_date, status,
                paid_amount, refunded_amount, created_at)
            SELECT md5('pl' || g)::uuid, md5('u' || ((g - 1) / 2 + 1))::uuid,
                   '00000000-0000-0000-0000-00000000beef', 5 * %(i)s, 5, '2026-01-01', 'ACTIVE', %(i)s, 0, now()
            FROM generate_series(1, %(plans)s) AS g""", {"plans": plans, "i": INSTALLMENT})
        cursor.execute("""
            INSERT INTO plans_installment (id, plan_id, user_id, sequence, due_date, amount, paid_amount,
                refunded_amount, status, paid_at)
            SELECT md5('i' || p || '-' || s)::uuid, md5('pl' || p)::uuid, md5('u' || ((p - 1) / 2 + 1))::uuid, s,
                   '2026-01-01'::date + make_interval(months => s), %(i)s, CASE WHEN s = 1 THEN %(i)s ELSE 0 END,
                   0, CASE WHEN s = 1 THEN 'PAID' ELSE 'UPCOMING' END, CASE WHEN s = 1 THEN now() END
            FROM generate_series(1, %(plans)s) AS p, generate_series(1, 5) AS s
            ORDER BY p, s""", {"plans": plans, "i": INSTALLMENT})
        # The journal: plan_opened (Dr receivable x5, Cr merchant_payable) and a repayment of the first
        # installment (Dr cash, Cr receivable) per plan.
        cursor.execute("""
            INSERT INTO ledger_journaltransaction (id, kind, plan_id, user_id, merchant_id, amount, business_date,
                source_type, source_id, outstanding_after, created_at)
            SELECT md5(k || p)::uuid, k, md5('pl' || p)::uuid, md5('u' || ((p - 1) / 2 + 1))::uuid,
                   '00000000-0000-0000-0000-00000000beef', CASE WHEN k = 'plan_opened' THEN 5 ELSE 1 END * %(i)s,
                   '2026-01-01', CASE WHEN k = 'plan_opened' THEN 'plan' ELSE 'repayment' END,
                   md5('src' || k || p)::uuid,
                   CASE WHEN k = 'plan_opened' THEN 5 ELSE 4 END * %(i)s, now()
            FROM generate_series(1, %(plans)s) AS p, unnest(ARRAY['plan_opened', 'repayment']) AS k
            ORDER BY p""", {"plans": plans, "i": INSTALLMENT})
        cursor.execute("""
            INSERT INTO ledger_journalentry (transaction_id, kind, account, plan_id, installment_id, user_id,
                merchant_id, amount)
            SELECT md5('plan_opened' || p)::uuid, 'plan_opened', 'receivable', md5('pl' || p)::uuid,
                   md5('i' || p || '-' || s)::uuid, md5('u' || ((p - 1) / 2 + 1))::uuid,
                   '00000000-0000-0000-0000-00000000beef'::uuid, %(i)s
            FROM generate_series(1, %(plans)s) AS p, generate_series(1, 5) AS s
            UNION ALL
            SELECT md5('plan_opened' || p)::uuid, 'plan_opened', 'merchant_payable', md5('pl' || p)::uuid, NULL::uuid,
                   md5('u' || ((p - 1) / 2 + 1))::uuid, '00000000-0000-0000-0000-00000000beef'::uuid, -5 * %(i)s
            FROM generate_series(1, %(plans)s) AS p
            UNION ALL
            SELECT md5('repayment' || p)::uuid, 'repayment', 'cash', md5('pl' || p)::uuid, NULL::uuid,
                   md5('u' || ((p - 1) / 2 + 1))::uuid, '00000000-0000-0000-0000-00000000beef'::uuid, %(i)s
            FROM generate_series(1, %(plans)s) AS p
            UNION ALL
            SELECT md5('repayment' || p)::uuid, 'repayment', 'receivable', md5('pl' || p)::uuid,
                   md5('i' || p || '-1')::uuid, md5('u' || ((p - 1) / 2 + 1))::uuid,
                   '00000000-0000-0000-0000-00000000beef'::uuid, -%(i)s
            FROM generate_series(1, %(plans)s) AS p""", {"plans": plans, "i": INSTALLMENT})
        if mismatches:
            # Caches that disagree with the journal (as a bug that bypassed the services would leave them).
            cursor.execute("""UPDATE plans_installment SET paid_amount = paid_amount + 1
                              WHERE id IN (SELECT md5('i' || g || '-2')::uuid FROM generate_series(1, %(n)s) g)""",
                           {"n": mismatches})
        cursor.execute("VACUUM ANALYZE")
    conn.close()


# The command exactly as an operator runs it, then the child's own peak RSS (KiB) on the last line.
_CHILD = """
import resource, sys, django
django.setup()
from django.core.management import call_command
try:
    call_command("reconcile")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
sys.exit(code)
"""


def run_once(url: str) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bnpl.settings.local", "REDIS_URL": "",
           "LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    line, peak_kb = json.loads(lines[-2]), int(lines[-1])
    return {"wall_s": round(wall, 2), "exit": done.returncode, "duration_ms": line["duration_ms"],
            "peak_rss_mb": round(peak_kb / 1024, 1), "installments_checked": line["installments_checked"],
            "plans_checked": line["plans_checked"], "transactions_checked": line["transactions_checked"],
            "mismatch_count": line["mismatch_count"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--installments", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mismatches", type=int, default=0, help="tamper with this many installment caches")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    ensure_database(url)
    started = time.perf_counter()
    seed(url, args.installments, args.mismatches)
    print(json.dumps({"machine": machine(), "installments": args.installments,
                      "seed_s": round(time.perf_counter() - started, 1)}))
    for _ in range(args.runs):
        print(json.dumps(run_once(url)))


if __name__ == "__main__":
    main()
