"""API throughput and latency under gunicorn on PostgreSQL, as ratios of the physical floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bnpl REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/api.py [--quick] [--reuse] [--write]

Seeds a scratch database (``bnpl_bench_api``: users by COPY, plans and installments by
``generate_series``, the overdue sweep run once; ``--reuse`` keeps the last one, with the rows
every earlier run's writes added: they go to customers off the users list's first pages, so the
reads measure pages of the same size run after run), then starts
two gunicorns with the production settings and ``gunicorn.conf.py``, in the same shape:

- floor A: ``bench/floor/``, a bare Django project (one view, no middleware, no database);
- the project itself, with ``BNPL_BENCH_FLOOR=1`` so that it also serves floor B
  (``/api/v1/bench/floor/``: a plain view behind our middleware stack, no DRF, key or database).

``wrk`` (``apt-get install wrk``) drives each endpoint through ``bench/wrk.lua`` (POST bodies,
a fresh ``Idempotency-Key`` per request). Endpoints are interleaved in rounds; each endpoint's
ratio to floor A and to the authenticated floor (``GET /merchants/{id}/``) is the median of its
per-round ratios, and p50/p99 are over all its rounds. ``--write`` appends the tables, the
command and the load average to bench/RESULTS.md. wrk and both servers run on this machine,
so the absolute req/s move with whatever else runs; the ratios are the figures to compare.
"""
import argparse
import http.client
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (  # noqa: E402
    ROOT,
    analyze_if_no_autovacuum,
    bench_env,
    cpu_ticks,
    machine,
    median,
    migrate,
    recreate_database,
    setup_django,
    stolen_share,
    vacuum,
)

# Another name and ports (BENCH_API_DB, BENCH_API_PORT) let two checkouts bench side by side.
DB = os.environ.get("BENCH_API_DB", "bnpl_bench_api")
_PORT = int(os.environ.get("BENCH_API_PORT", "8765"))
PORTS = {"api": _PORT, "floor": _PORT + 1, "base": _PORT + 2}


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
    # One sign-up a second, the newest last: customers are created one request at a time, so no two
    # share a created_at (with one timestamp for all, the list's cursor walked its whole page to
    # find a position and fell back to offsets, which no real page does).
    now = datetime.now(UTC)
    buf = io.StringIO()
    user_ids = []
    for n in range(n_users):
        uid = uuid.uuid4()
        user_ids.append(str(uid))
        phone, passport = f"+99890{n:07d}", f"AB{n:07d}"
        created = (now - timedelta(seconds=n_users - n)).isoformat()
        buf.write("\t".join([str(uid), f"Customer {n}", encrypt(phone), lookup_hash(phone), mask_phone(phone),
                             encrypt(passport), lookup_hash(passport), mask_passport(passport), dob_token,
                             dob_mask, "\\N", "\\N", "NORMAL", created, created]) + "\n")
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
    # Amount columns hold integer minor units of BNPL_CURRENCY.
    from decimal import Decimal

    from bnpl.money import to_minor

    total, installment = to_minor(Decimal("1200.00")), to_minor(Decimal("100.00"))
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        # One plan of 12 x 100.00 for each of n_plans users, started 0-270 days ago, so about a
        # third of the installments are past due. The users are taken in id order (random), not by
        # age: every page of the users list holds as many customers with a plan as the whole book.
        cur.execute("""
            CREATE TEMP TABLE bench_users AS
              SELECT id, row_number() OVER (ORDER BY id) AS rn FROM users_customer;
            INSERT INTO plans_plan (id, user_id, merchant_id, total_amount, installment_count, start_date, status,
                                    paid_amount, refunded_amount, fee_amount, fee_paid_amount, fee_waived_amount,
                                    created_at)
              SELECT gen_random_uuid(), u.id, %s, %s, 12, current_date - (random() * 270)::int, 'ACTIVE',
                     0, 0, 0, 0, 0, now() - u.rn * interval '1 second'
              FROM bench_users u WHERE u.rn <= %s;
            INSERT INTO plans_installment (id, plan_id, user_id, sequence, due_date, amount, paid_amount,
                                           refunded_amount, fee_amount, fee_paid_amount, fee_waived_amount,
                                           max_days_past_due, extended_days, status, paid_at)
              SELECT gen_random_uuid(), p.id, p.user_id, k, (p.start_date + make_interval(months => k))::date,
                     %s, 0, 0, 0, 0, 0, 0, 0, 'UPCOMING', NULL
              FROM plans_plan p CROSS JOIN generate_series(1, 12) AS k
              ORDER BY p.id, k;  -- a plan's twelve rows together, as plan_create writes them
            ANALYZE;
        """, [str(merchant.id), total, n_plans, installment])
    print(f"seeded {n_plans} plans / {n_plans * 12} installments in {time.perf_counter() - t0:.1f}s", flush=True)

    from debt.services import sweep_overdue

    print("sweep:", json.dumps(sweep_overdue(), default=str), flush=True)
    with connection.cursor() as cur:
        # Not the users list's first pages (newest first, GET /users/ reads the first): the writes
        # would pile plans onto the page it sums, and it would cost more with every --reuse run.
        cur.execute("SELECT id FROM users_customer WHERE status = 'NORMAL' AND id NOT IN "
                    "(SELECT user_id FROM plans_plan) AND id NOT IN "
                    "(SELECT id FROM users_customer ORDER BY created_at DESC, id DESC LIMIT 1000) LIMIT 5000")
        fresh_users = [str(r[0]) for r in cur.fetchall()]
        cur.execute("SELECT id, user_id FROM plans_plan ORDER BY random() LIMIT 5000")
        plans = [(str(p), str(u)) for p, u in cur.fetchall()]
    return {"merchant_id": str(merchant.id), "keys": keys, "user_ids": random.sample(user_ids, 5000),
            "fresh_users": fresh_users, "plans": plans, "users": n_users, "installments": n_plans * 12}


ENDPOINTS = {
    # name -> (wrk.lua endpoint, server); the floors first, then the authenticated floor.
    "floor A: bare Django view": ("floor-a", "floor"),
    "floor B: view in our middleware": ("floor-b", "api"),
    "GET /merchants/{id}/ (auth floor)": ("merchant", "api"),
    "GET /users/{id}/": ("user", "api"),
    "GET /users/": ("users", "api"),
    "GET /plans/{id}/": ("plan", "api"),
    "GET /plans/?user_id=": ("plans", "api"),
    "GET /debt/{user_id}/": ("debt", "api"),
    "POST /plans/ (12 inst.)": ("create-plan", "api"),
    "POST /refunds/": ("refund", "api"),
    "POST /debt/{user_id}/ (amount)": ("repay", "api"),
}
FLOOR_A, FLOOR_B, AUTH_FLOOR = list(ENDPOINTS)[:3]
# A run in which the hypervisor took this share of the cores' time measured a neighbour, not the code.
STOLEN_WARNING = 0.05
READS = [n for n in ENDPOINTS if n.startswith("GET") and n != AUTH_FLOOR]
WRITES = [n for n in ENDPOINTS if n.startswith("POST")]


def write_wrk_data(fixture: dict) -> Path:
    """The ids wrk.lua picks from, as a Lua table (wrk cannot read JSON)."""
    def lua_list(values) -> str:
        return "{" + ",".join(f'"{v}"' for v in values) + "}"

    path = ROOT / "bench" / ".wrk-data.lua"
    path.write_text(
        f'D = {{key = "{fixture["keys"]["client"]}", merchant = "{fixture["merchant_id"]}",\n'
        f' users = {lua_list(fixture["user_ids"])},\n'
        f' plans = {lua_list(p for p, _ in fixture["plans"])},\n'
        f' plan_users = {lua_list(u for _, u in fixture["plans"])},\n'
        f' fresh = {lua_list(fixture["fresh_users"])}}}\n')
    return path


def load(name: str, data: Path, connections: int, seconds: int) -> dict:
    """One wrk run against one endpoint: successful req/s and the latency percentiles."""
    endpoint, server = ENDPOINTS[name]
    port = PORTS[server]
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
         "-s", str(ROOT / "bench" / "wrk.lua"), f"http://127.0.0.1:{port}", "--", endpoint, str(data),
         uuid.uuid4().hex[:12]],
        capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    r = json.loads(line[len("BENCH "):])
    ok = sum(n for code, n in r["statuses"].items() if 200 <= int(code) < 300)
    errors = {code: n for code, n in r["statuses"].items() if not 200 <= int(code) < 300}
    if r["socket_errors"]:
        errors["socket"] = r["socket_errors"]
    return {"rps": ok / (r["duration_us"] / 1e6), "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "percentiles_ms": [v / 1000 for v in r["percentiles_us"]], "requests": r["requests"], "errors": errors}


def pooled_percentile(parts: list[dict], p: float) -> float:
    """p-th percentile over all rounds: each round's 200 half-percent quantiles, weighted by its requests."""
    points = sorted((q, part["requests"] / len(part["percentiles_ms"]))
                    for part in parts for q in part["percentiles_ms"])
    total, seen = sum(w for _, w in points), 0.0
    for value, weight in points:
        seen += weight
        if seen >= total * p / 100:
            return value
    return points[-1][0] if points else float("nan")


def start_server(env: dict, workers: int, threads: int, *, kind: str = "api", root: Path = ROOT) -> subprocess.Popen:
    """gunicorn with the production gunicorn.conf.py (of ``root``), so what is measured is what is deployed.

    ``kind``: ``floor`` (floor A), ``api`` (this checkout) or ``base`` (another checkout, ``--compare``).
    """
    log = open(ROOT / "bench" / f".gunicorn-{kind}.log", "w")  # noqa: SIM115
    app = ["floor.wsgi:application", "--pythonpath", str(ROOT / "bench" / "floor")] if kind == "floor" else \
        ["bnpl.wsgi:application"]
    if kind == "floor":
        env = {**env, "DJANGO_SETTINGS_MODULE": "floor.settings"}
    if kind == "base":
        env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(ROOT / "bench" / ".prometheus-base")}
    port = PORTS[kind]
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), *app, "-c", "gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
         "--log-level", "warning"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    probe = "/" if kind == "floor" else "/api/v1/health/live/"
    for _ in range(150):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", probe)
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not start; see bench/.gunicorn-{kind}.log")


def base_database(env: dict, base_root: Path) -> None:
    """``{DB}_base``: a copy of the seeded database with its schema taken back to ``base_root``'s migrations.

    The other checkout runs on its own schema (an older commit stored amounts as decimals, before the
    money core), with the very same rows, ids and API keys, so one wrk data file drives both servers.
    Each app goes back to the newest migration the other checkout has (``zero`` if it has none);
    Django unapplies the dependants first, and every data migration here is reversible.
    """
    from django.conf import settings
    from django.db import connections

    if settings.configured:  # seeded just now: CREATE DATABASE ... TEMPLATE needs the template idle
        connections.close_all()
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{DB}_base"')
        cur.execute(f'CREATE DATABASE "{DB}_base" TEMPLATE "{DB}"')
    conn.close()
    base_env = {**env, "DATABASE_URL": env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{DB}_base"}
    for migrations_dir in sorted(ROOT.glob("*/migrations")):
        app = migrations_dir.parent.name
        theirs = sorted(p.stem for p in (base_root / app / "migrations").glob("[0-9]*.py"))
        if theirs == sorted(p.stem for p in migrations_dir.glob("[0-9]*.py")):
            continue
        target = theirs[-1] if theirs else "zero"
        print(f"base database: {app} back to {target}", flush=True)
        subprocess.run([sys.executable, "manage.py", "migrate", app, target, "--noinput", "-v", "0"],
                       cwd=ROOT, env=base_env, check=True)


def keep_statistics(compare: Path | None) -> bool:
    """After the warm-up and after each round (outside the timed slices): ANALYZE the bench's
    databases where no autovacuum does, so the writes' prepared plans see the tables grow."""
    ran = analyze_if_no_autovacuum(DB)
    if compare:
        analyze_if_no_autovacuum(f"{DB}_base")
    return ran


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def server_env() -> dict:
    """The environment every gunicorn of the bench runs with: production settings, the seeded database."""
    return bench_env(DB, DJANGO_SETTINGS_MODULE="bnpl.settings.production", DJANGO_SECRET_KEY="bench-" + "x" * 50,
                     BNPL_FIELD_ENCRYPTION_KEYS="3l8lTdPkLZVZ1B5l3yMN5x6LmkV4t9DXtT9HfPQ7cUg=",
                     BNPL_LOOKUP_HASH_KEY="bench", DJANGO_SECURE_SSL_REDIRECT="0", DJANGO_ALLOWED_HOSTS="*",
                     BNPL_RATE_LIMIT="10000000/min", REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
                     DB_CONN_MAX_AGE="600", BNPL_BENCH_FLOOR="1",
                     # As deployed (k8s/configmap.yaml, .env.example): every request writes its access
                     # line (bench/.gunicorn-*.log), so its cost is measured, not left out.
                     LOG_LEVEL="INFO",
                     # As deployed (Dockerfile, compose, k8s): metrics in per-worker files.
                     PROMETHEUS_MULTIPROC_DIR=str(ROOT / "bench" / ".prometheus"),
                     # Writes hit the same few thousand customers over and over: no credit controls in the way.
                     BNPL_MAX_OPEN_PLANS="1000000", BNPL_DEFAULT_CREDIT_LIMIT="none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="10,000 users, 60,000 installments, 3 rounds of 2 s: a smoke run in ~2 min")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--installments", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=3, help="length of one endpoint's slice in a round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--connections", type=int, default=8)
    # 2 x 4 gthread measured best on this 2-core machine (3 x 1 sync and 5 x 1 sync did worse).
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--reuse", action="store_true", help="reuse the seeded database (bench/.api-fixture.json)")
    parser.add_argument("--seed-only", action="store_true", help="seed the database and stop")
    parser.add_argument("--write", action="store_true", help="append the results to bench/RESULTS.md")
    parser.add_argument("--only", help="comma-separated endpoint name prefixes (the three floors always run)")
    parser.add_argument("--note", default="", help="a line written above the table (what this run measures)")
    parser.add_argument("--compare", type=Path,
                        help="another checkout (e.g. a git worktree of main): its gunicorn runs beside this one and "
                             "every endpoint is measured on both, interleaved in the same rounds")
    args = parser.parse_args()
    if args.quick:
        args.users, args.installments, args.seconds, args.rounds = 10_000, 60_000, 2, 3

    env = server_env()
    for metrics_dir in (".prometheus", ".prometheus-base"):  # gunicorn.conf.py empties them; a fresh clone has none
        (ROOT / "bench" / metrics_dir).mkdir(exist_ok=True)
    fixture_file = ROOT / "bench" / ".api-fixture.json"
    if args.reuse and fixture_file.exists():
        fixture = json.loads(fixture_file.read_text())
        # The header reports what was seeded, not this run's defaults.
        args.users, args.installments = fixture.get("users", args.users), fixture.get("installments", args.installments)
        # The seed may predate a migration of this checkout: measured on the old schema, a change of
        # indexes would measure nothing (a no-op when the schema is current).
        migrate(env)
    else:
        recreate_database(DB)
        migrate(env)
        setup_django(env)
        fixture = seed(args.users, args.installments)
        fixture_file.write_text(json.dumps(fixture))
    vacuum(DB)  # the seed's and the earlier runs' writes, as autovacuum would have left them
    if args.compare:
        base_database(env, args.compare.resolve())
        vacuum(f"{DB}_base")
    if args.seed_only:
        return
    data = write_wrk_data(fixture)

    names = list(ENDPOINTS)
    if args.only:
        names = [n for n in names if n in (FLOOR_A, FLOOR_B, AUTH_FLOOR)
                 or any(n.startswith(p) for p in args.only.split(","))]
    load_before, ticks_before = loadavg(), cpu_ticks()
    if args.compare:
        for name in [n for n in names if ENDPOINTS[n][1] == "api" and n != FLOOR_B]:
            ENDPOINTS[f"{name} [base]"] = (ENDPOINTS[name][0], "base")
        names = [x for n in names for x in (n, f"{n} [base]") if x in ENDPOINTS]
    servers = [start_server(env, args.workers, args.threads, kind="floor"),
               start_server(env, args.workers, args.threads)]
    if args.compare:
        redis_root, redis_number = env["REDIS_URL"].rsplit("/", 1)
        base_env = {**env, "DATABASE_URL": env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{DB}_base",
                    "REDIS_URL": f"{redis_root}/{int(redis_number) + 1}"}
        servers.append(start_server(base_env, args.workers, args.threads, kind="base", root=args.compare.resolve()))
    rounds: list[dict[str, dict]] = []
    round_loads: list[str] = []
    round_stolen: list[float] = []  # the hypervisor's share of the cores' time in each round
    try:
        for name in names:  # warm up: every worker has imported, connected and compiled its queries
            load(name, data, args.connections, 1)
        analyzed = keep_statistics(args.compare)  # the warm-up's writes: the write-only tables are not empty now
        # Interleaved rounds: every endpoint gets a slice in each round, so drift during the run
        # (checkpoints after the writes, a neighbour's test run) hits all of them alike; an
        # endpoint's ratio is the median of its per-round ratios to floor A of the same round.
        for round_no in range(args.rounds):
            round_ticks = cpu_ticks()
            this = {name: load(name, data, args.connections, args.seconds) for name in names}
            rounds.append(this)
            round_loads.append(loadavg())
            round_stolen.append(stolen_share(round_ticks, cpu_ticks()))
            keep_statistics(args.compare)
            print(f"round {round_no + 1}/{args.rounds} (load {round_loads[-1]}, "
                  f"stolen {round_stolen[-1]:.0%}): "
                  + ", ".join(f"{ENDPOINTS[n][0]}{'*' if n.endswith('[base]') else ''} {r['rps']:.0f}"
                           for n, r in this.items()), flush=True)
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            server.wait(timeout=30)
    load_after, stolen = loadavg(), stolen_share(ticks_before, cpu_ticks())

    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        parts = [r[name] for r in rounds]
        to_a = [r[name]["rps"] / r[FLOOR_A]["rps"] for r in rounds]
        auth = f"{AUTH_FLOOR} [base]" if name.endswith("[base]") else AUTH_FLOOR
        to_auth = [r[name]["rps"] / r[auth]["rps"] if r[auth]["rps"] else 0.0 for r in rounds]
        errors: dict = {}
        for part in parts:
            for code, n in part["errors"].items():
                errors[code] = errors.get(code, 0) + n
        rows[name] = {"rps": median([p["rps"] for p in parts]), "to_a": median(to_a),
                      "to_a_range": (min(to_a), max(to_a)), "to_auth": median(to_auth),
                      "p50_ms": pooled_percentile(parts, 50),
                      "p99_ms": pooled_percentile(parts, 99), "errors": errors}

    goals = {FLOOR_B: ("x floor A", "to_a", 0.8), AUTH_FLOOR: ("x floor A", "to_a", 0.35)}
    goals.update({n: ("x auth floor", "to_auth", 0.6) for n in READS})
    goals.update({n: ("x auth floor", "to_auth", 0.25) for n in WRITES})
    table = ["| endpoint | req/s (median) | x floor A (median of rounds) | range | x auth floor | p50 ms | p99 ms "
             "| goal | non-2xx |",
             "|---|---:|---:|---|---:|---:|---:|---|---|"]
    for name, r in rows.items():
        goal = "-"
        if name in goals:
            label, key, bound = goals[name]
            met = r[key] >= bound and (name not in READS or r["p99_ms"] < 100)
            goal = (f"{label} >= {bound}" + (" and p99 < 100 ms" if name in READS else "")
                    + (": met" if met else ": MISSED"))
        low, high = r["to_a_range"]
        table.append(f"| `{name}` | {r['rps']:.0f} | {r['to_a']:.3f} | {low:.3f}-{high:.3f} | {r['to_auth']:.2f} | "
                     f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {goal} | {r['errors'] or '-'} |")
    def short(name: str) -> str:
        return ENDPOINTS[name][0] + (" (base)" if name.endswith("[base]") else "")

    per_round = ["| round | load avg after | stolen | " + " | ".join(short(n) for n in names) + " |",
                 "|---|---|---:|" + "---:|" * len(names)]
    for i, r in enumerate(rounds, 1):
        per_round.append(f"| {i} | {round_loads[i - 1]} | {round_stolen[i - 1]:.0%} | "
                         + " | ".join(f"{r[n]['rps']:.0f}" for n in names) + " |")
    argv = [("<checkout>" if args.compare and a == str(args.compare) else a) for a in sys.argv[1:]]
    if args.note:
        argv = [("'...'" if a == args.note else a) for a in argv]
    command = " ".join(["DATABASE_URL=... REDIS_URL=... .venv/bin/python", "bench/api.py", *argv])
    report = (f"\n### API load (wrk), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
              + (f"{args.note}\n\n" if args.note else "")
              + f"`{command}`: {args.users} users, {args.installments} installments, gunicorn {args.workers} "
              f"workers x {args.threads} threads (production settings and gunicorn.conf.py, LOG_LEVEL="
              f"{server_env()['LOG_LEVEL']}), wrk 2 threads x "
              f"{args.connections} connections, {args.rounds} interleaved rounds of {args.seconds:g} s per endpoint. "
              f"Load average before {load_before}, after {load_after}. CPU time the hypervisor took "
              f"(steal, /proc/stat): {stolen:.0%} of the cores' time over the run"
              + (" - a neighbour had the machine: these figures say more about it than about the code"
                 if stolen >= STOLEN_WARNING else "")
              + f". Machine: {machine()}."
              + (" The server's autovacuum is off: the bench ran ANALYZE after the warm-up and after each round."
                 if analyzed else "")
              + "\n\n"
              + "\n".join(table) + "\n\nSuccessful req/s of every endpoint in every round:\n\n"
              + "\n".join(per_round) + "\n")
    print(report)
    if args.write:
        with open(ROOT / "bench" / "RESULTS.md", "a") as fh:
            fh.write(report)


if __name__ == "__main__":
    main()
