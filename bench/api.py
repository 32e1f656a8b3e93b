"""API throughput and latency under gunicorn on PostgreSQL, each endpoint as a ratio of a floor.

    .venv/bin/python bench/api.py --users 100000 --installments 1000000 --duration 10

Seeds a scratch database (``bnpl_bench_api``: users by COPY, plans and installments by
``generate_series``, the overdue sweep run once), starts gunicorn on 127.0.0.1, finds the
concurrency where the floor endpoint peaks, then loads every endpoint at that concurrency
in one run. The floor is ``GET /api/v1/merchants/{id}/``: authenticated, one indexed SELECT
by primary key, tiny JSON. Appends a Markdown table to bench/RESULTS.md with --write.
"""
import argparse
import http.client
import io
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (  # noqa: E402
    ROOT,
    bench_env,
    machine,
    median,
    migrate,
    percentile,
    recreate_database,
    setup_django,
)

DB = "bnpl_bench_api"
PORT = 8765


def seed(n_users: int, n_installments: int) -> dict:
    from django.db import connection

    from bnpl.crypto import encrypt, lookup_hash
    from bnpl.masking import mask_date_of_birth, mask_passport, mask_phone
    from bnpl.models import Role
    from bnpl.services import api_key_create
    from merchants.services import merchant_create

    t0 = time.perf_counter()
    dob = datetime(1990, 5, 17, tzinfo=UTC).date()
    dob_token, dob_mask = encrypt(dob.isoformat()), mask_date_of_birth(dob)
    now = datetime.now(UTC).isoformat()
    buf = io.StringIO()
    user_ids = []
    for n in range(n_users):
        uid = uuid.uuid4()
        user_ids.append(str(uid))
        phone, passport = f"+99890{n:07d}", f"AB{n:07d}"
        buf.write("\t".join([str(uid), f"Customer {n}", encrypt(phone), lookup_hash(phone), mask_phone(phone),
                             encrypt(passport), lookup_hash(passport), mask_passport(passport), dob_token,
                             dob_mask, "\\N", "\\N", "NORMAL", now, now]) + "\n")
    buf.seek(0)
    with connection.cursor() as cur:
        cur.copy_expert(
            "COPY users_customer (id, full_name, phone_number, phone_hash, phone_mask, passport_number,"
            " passport_hash, passport_mask, date_of_birth, date_of_birth_mask, card_number, card_mask, status,"
            " created_at, updated_at) FROM STDIN", buf)
    print(f"seeded {n_users} users in {time.perf_counter() - t0:.1f}s", flush=True)

    merchant = merchant_create(name="Bench merchant")
    keys = {role: api_key_create(role=role, name=f"bench {role}",
                                 merchant=merchant if role == Role.MERCHANT else None)[1]
            for role in (Role.CLIENT, Role.MERCHANT, Role.OPERATOR)}

    n_plans = n_installments // 12
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        # One plan of 12 x 100.00 (amounts in minor units) for each of the first n_plans users, started 0-270 days ago,
        # so about a third of the installments are past due.
        cur.execute("""
            CREATE TEMP TABLE bench_users AS
              SELECT id, row_number() OVER (ORDER BY created_at, id) AS rn FROM users_customer;
            INSERT INTO plans_plan (id, user_id, merchant_id, total_amount, installment_count, start_date, status,
                                    paid_amount, refunded_amount, created_at)
              SELECT gen_random_uuid(), u.id, %s, 120000, 12, current_date - (random() * 270)::int, 'ACTIVE',
                     0, 0, now()
              FROM bench_users u WHERE u.rn <= %s;
            INSERT INTO plans_installment (id, plan_id, user_id, sequence, due_date, amount, paid_amount,
                                           refunded_amount, status, paid_at)
              SELECT gen_random_uuid(), p.id, p.user_id, k, (p.start_date + make_interval(months => k))::date,
                     10000, 0, 0, 'UPCOMING', NULL
              FROM plans_plan p CROSS JOIN generate_series(1, 12) AS k;
            ANALYZE;
        """, [str(merchant.id), n_plans])
    print(f"seeded {n_plans} plans / {n_plans * 12} installments in {time.perf_counter() - t0:.1f}s", flush=True)

    from debt.services import sweep_overdue

    print("sweep:", json.dumps(sweep_overdue(), default=str), flush=True)
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM users_customer WHERE status = 'NORMAL' AND id NOT IN "
                    "(SELECT user_id FROM plans_plan) LIMIT 5000")
        fresh_users = [str(r[0]) for r in cur.fetchall()]
        cur.execute("SELECT id, user_id FROM plans_plan ORDER BY random() LIMIT 5000")
        plans = [(str(p), str(u)) for p, u in cur.fetchall()]
    return {"merchant_id": str(merchant.id), "keys": keys, "user_ids": random.sample(user_ids, 5000),
            "fresh_users": fresh_users, "plans": plans}


def make_requests(fixture: dict) -> dict:
    """Endpoint name -> a function returning (method, path, body or None, key role)."""
    m, plans, users, fresh = fixture["merchant_id"], fixture["plans"], fixture["user_ids"], fixture["fresh_users"]
    return {
        "floor: GET /merchants/{id}/": lambda: ("GET", f"/api/v1/merchants/{m}/", None, "client"),
        "GET /users/{id}/": lambda: ("GET", f"/api/v1/users/{random.choice(users)}/", None, "client"),
        "GET /plans/{id}/": lambda: ("GET", f"/api/v1/plans/{random.choice(plans)[0]}/", None, "client"),
        "GET /debt/{user_id}/": lambda: ("GET", f"/api/v1/debt/{random.choice(plans)[1]}/", None, "client"),
        "GET /plans/?user_id=": lambda: ("GET", f"/api/v1/plans/?user_id={random.choice(plans)[1]}", None,
                                         "client"),
        "POST /plans/ (12 inst.)": lambda: ("POST", "/api/v1/plans/", {
            "user_id": random.choice(fresh), "merchant_id": m, "total_amount": "1200.00",
            "installment_count": 12}, "client"),
        "POST /refunds/": lambda: ("POST", "/api/v1/refunds/", {
            "plan_id": random.choice(plans)[0], "transaction_id": uuid.uuid4().hex, "amount": "0.01"}, "client"),
        "POST /debt/{user_id}/": lambda: ("POST", f"/api/v1/debt/{random.choice(plans)[1]}/", {"amount": "0.01"},
                                          "client"),
    }


def _worker(args) -> list[tuple[float, int]]:
    name, fixture, seconds, seed_value = args
    random.seed(seed_value)
    make = make_requests(fixture)[name]
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    out: list[tuple[float, int]] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        method, path, body, role = make()
        headers = {"Authorization": f"Bearer {fixture['keys'][role]}", "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers.update({"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex})
        start = time.perf_counter()
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            status = 0
        out.append((time.perf_counter() - start, status))
    conn.close()
    return out


def load(name: str, fixture: dict, concurrency: int, seconds: float) -> dict:
    with mp.Pool(concurrency) as pool:
        results = pool.map(_worker, [(name, fixture, seconds, i) for i in range(concurrency)])
    samples = [s for r in results for s in r]
    ok = [lat for lat, status in samples if 200 <= status < 300]
    errors = {}
    for _, status in samples:
        if not 200 <= status < 300:
            errors[status] = errors.get(status, 0) + 1
    return {"rps": len(ok) / seconds, "p50_ms": percentile(ok, 50) * 1000, "p99_ms": percentile(ok, 99) * 1000,
            "n": len(samples), "errors": errors, "latencies": ok}


def start_server(env: dict, workers: int, threads: int) -> subprocess.Popen:
    log = open(ROOT / "bench" / ".gunicorn.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        # The production gunicorn.conf.py, so what is measured is what is deployed.
        [str(Path(sys.executable).parent / "gunicorn"), "bnpl.wsgi:application", "-c", "gunicorn.conf.py",
         "--bind", f"127.0.0.1:{PORT}", "--workers", str(workers), "--threads", str(threads),
         "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            c.request("GET", "/api/v1/health/live/")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start; see bench/.gunicorn.log")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--installments", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=10.0)
    # 2 x 4 gthread measured best on this 2-core machine (3 x 1 sync and 5 x 1 sync did worse).
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=0, help="0: find where the floor peaks")
    parser.add_argument("--reuse", action="store_true", help="reuse the seeded database (bench/.api-fixture.json)")
    parser.add_argument("--write", action="store_true", help="append the results to bench/RESULTS.md")
    parser.add_argument("--only", help="comma-separated endpoint name prefixes to run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; --duration is split across them")
    args = parser.parse_args()

    env = bench_env(DB, DJANGO_SETTINGS_MODULE="bnpl.settings.production", DJANGO_SECRET_KEY="bench-" + "x" * 50,
                    BNPL_FIELD_ENCRYPTION_KEYS="3l8lTdPkLZVZ1B5l3yMN5x6LmkV4t9DXtT9HfPQ7cUg=",
                    BNPL_LOOKUP_HASH_KEY="bench", DJANGO_SECURE_SSL_REDIRECT="0", DJANGO_ALLOWED_HOSTS="*",
                    BNPL_RATE_LIMIT="10000000/min", REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
                    DB_CONN_MAX_AGE="600")
    fixture_file = ROOT / "bench" / ".api-fixture.json"
    if args.reuse and fixture_file.exists():
        fixture = json.loads(fixture_file.read_text())
    else:
        recreate_database(DB)
        migrate(env)
        setup_django(env)
        fixture = seed(args.users, args.installments)
        fixture_file.write_text(json.dumps(fixture))

    server = start_server(env, args.workers, args.threads)
    try:
        floor = "floor: GET /merchants/{id}/"
        concurrency = args.concurrency
        if not concurrency:
            best = (0.0, 1)
            for c in (1, 2, 4, 8, 16):
                rps = load(floor, fixture, c, max(3.0, args.duration / 3))["rps"]
                print(f"floor at concurrency {c}: {rps:.0f} req/s", flush=True)
                best = max(best, (rps, c))
            concurrency = best[1]
        names = list(make_requests(fixture))
        if args.only:
            names = [n for n in names if n == floor or any(n.startswith(p) for p in args.only.split(","))]
        # Interleaved rounds: every endpoint gets a short slice in each round, so drift during the
        # run (checkpoints after the writes, a noisy neighbour) hits all of them alike; each
        # endpoint's ratio is the median of its per-round ratios to the floor of the same round.
        slices: dict[str, list[dict]] = {name: [] for name in names}
        for round_no in range(args.rounds):
            for name in names:
                slices[name].append(load(name, fixture, concurrency, args.duration / args.rounds))
            print(f"round {round_no + 1}/{args.rounds} done", flush=True)
        rows = []
        for name in names:
            parts = slices[name]
            ratios = [part["rps"] / floor_part["rps"] for part, floor_part in zip(parts, slices[floor], strict=True)]
            latencies = [lat for part in parts for lat in part["latencies"]]
            errors: dict = {}
            for part in parts:
                for code, n in part["errors"].items():
                    errors[code] = errors.get(code, 0) + n
            result = {"rps": sum(part["rps"] for part in parts) / len(parts), "ratio": median(ratios),
                      "ratio_range": (min(ratios), max(ratios)), "p50_ms": percentile(latencies, 50) * 1000,
                      "p99_ms": percentile(latencies, 99) * 1000, "errors": errors}
            rows.append((name, result))
            print(f"{name:28s} {result['rps']:8.0f} req/s  x{result['ratio']:.2f}  p50 {result['p50_ms']:6.1f} ms  "
                  f"p99 {result['p99_ms']:6.1f} ms  errors {result['errors']}", flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    table = ["| endpoint | req/s | x floor (median of rounds) | range over rounds | p50 ms | p99 ms | non-2xx |",
             "|---|---:|---:|---|---:|---:|---|"]
    for name, r in rows:
        low, high = r["ratio_range"]
        table.append(f"| `{name}` | {r['rps']:.0f} | {r['ratio']:.2f} | {low:.2f}-{high:.2f} | {r['p50_ms']:.1f} | "
                     f"{r['p99_ms']:.1f} | {r['errors'] or '-'} |")
    report = (f"\n### API load, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
              f"`{' '.join(['.venv/bin/python', 'bench/api.py'] + sys.argv[1:])}`: {args.users} users, "
              f"{args.installments} installments, gunicorn {args.workers} workers x {args.threads} threads, "
              f"concurrency {concurrency}, {args.duration:.0f} s per endpoint in {args.rounds} interleaved rounds. "
              f"Machine: {machine()}.\n\n"
              + "\n".join(table) + "\n")
    print(report)
    if args.write:
        with open(ROOT / "bench" / "RESULTS.md", "a") as fh:
            fh.write(report)


if __name__ == "__main__":
    main()
