"""Deterministic per-request cost: Python calls, SQL statements and Redis round trips.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bnpl_perf2 REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/request_cost.py [--requests 50] [--reseed] [--floor-a]

The figures behind bench/RESULTS.md's "per-request cost" tables. Each endpoint of bench/api.py
is called in process through Django's WSGI handler, with the production settings and the
environment bench/api.py gives gunicorn (multiprocess metrics, the bench floor mounted), on a
small seeded copy of its data in ``DATABASE_URL``'s database (seeded once; ``--reseed`` redoes
it). After a warm-up (the key cached, queries compiled, children of the metrics made), the
handler runs N requests under cProfile: calls per request are ``total_calls / N``. Statements
come from a ``connection.execute_wrapper``, Redis round trips from counting
``Connection.send_packed_command`` (a pipeline or a script is one). None of these depend on the
machine's load, so one commit can be compared with the next on a shared machine.

``COST_FIXTURE=bench/.api-fixture.json`` with ``DATABASE_URL`` on bench/api.py's database runs
the same requests on its large seed instead (5,000 plans cycled, so caches see as many misses
as under wrk); ``COST_SQL_WIDTH`` sets how much of each statement ``--sql`` prints.
"""
import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, migrate, recreate_database  # noqa: E402

ENV = {
    "DJANGO_SETTINGS_MODULE": "bnpl.settings.production", "DJANGO_SECRET_KEY": "bench-" + "x" * 50,
    "BNPL_FIELD_ENCRYPTION_KEYS": "3l8lTdPkLZVZ1B5l3yMN5x6LmkV4t9DXtT9HfPQ7cUg=",
    "BNPL_LOOKUP_HASH_KEY": "bench", "DJANGO_SECURE_SSL_REDIRECT": "0", "DJANGO_ALLOWED_HOSTS": "*",
    "BNPL_RATE_LIMIT": "10000000/min", "DB_CONN_MAX_AGE": "600", "BNPL_BENCH_FLOOR": "1",
    "BNPL_MAX_OPEN_PLANS": "1000000", "BNPL_DEFAULT_CREDIT_LIMIT": "none", "DJANGO_DEBUG": "0",
    "LOG_LEVEL": os.environ.get("COST_LOG_LEVEL", "INFO"),
}
FIXTURE = Path(os.environ.get("COST_FIXTURE", ROOT / "bench" / ".request-cost-fixture.json"))
SQL_WIDTH = int(os.environ.get("COST_SQL_WIDTH", "160"))  # characters of each statement --sql prints


def environ(method: str, path: str, key: str | None, body: bytes = b"", query: str = "") -> dict:
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8765", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8765", "HTTP_ACCEPT": "application/json",
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
    }
    if key:
        env["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    if body:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
        env["HTTP_IDEMPOTENCY_KEY"] = uuid.uuid4().hex
    return env


def endpoints(fx: dict):
    """name -> a function returning the next request's environ (as bench/wrk.lua builds them)."""
    key, m = fx["keys"]["client"], fx["merchant_id"]
    it = {"n": 0}

    def pick(values):
        it["n"] += 1
        return values[it["n"] % len(values)]

    def plan_body():
        return json.dumps({"user_id": pick(fx["fresh_users"]), "merchant_id": m,
                           "total_amount": "1200.00", "installment_count": 12}).encode()

    return {
        "floor B": lambda: environ("GET", "/api/v1/bench/floor/", None),
        "GET /merchants/{id}/": lambda: environ("GET", f"/api/v1/merchants/{m}/", key),
        "GET /users/{id}/": lambda: environ("GET", f"/api/v1/users/{pick(fx['user_ids'])}/", key),
        "GET /users/": lambda: environ("GET", "/api/v1/users/", key),
        "GET /plans/{id}/": lambda: environ("GET", f"/api/v1/plans/{pick(fx['plans'])[0]}/", key),
        "GET /plans/?user_id=": lambda: environ("GET", "/api/v1/plans/", key,
                                                query=f"user_id={pick(fx['plans'])[1]}"),
        "GET /debt/{user_id}/": lambda: environ("GET", f"/api/v1/debt/{pick(fx['plans'])[1]}/", key),
        "POST /plans/": lambda: environ("POST", "/api/v1/plans/", key, plan_body()),
        "POST /refunds/": lambda: environ("POST", "/api/v1/refunds/", key, json.dumps(
            {"plan_id": pick(fx["plans"])[0], "transaction_id": uuid.uuid4().hex, "amount": "0.01"}).encode()),
        "POST /debt/{user_id}/": lambda: environ("POST", f"/api/v1/debt/{pick(fx['plans'])[1]}/", key,
                                                 b'{"amount": "0.01"}'),
    }


def print_tree(request, n: int) -> None:
    """Inclusive call counts of one request: every call counted once for each distinct function above it."""
    stack: list = []
    inclusive: dict = {}

    def tracer(frame, event, arg):
        if event in ("call", "c_call"):
            for key in set(stack):
                inclusive[key] = inclusive.get(key, 0) + 1
            if event == "call":
                code = frame.f_code
                stack.append(f"{code.co_filename.split('site-packages/')[-1]}:{code.co_firstlineno}({code.co_name})")
        elif event == "return" and stack:
            stack.pop()

    sys.setprofile(tracer)
    try:
        request()
    finally:
        sys.setprofile(None)
    for key, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:n]:
        print(f"{count:7,} {key}")


def best_cpu_us(request, n: int, batches: int) -> float:
    """The process's CPU time per request, in µs, of the fastest of ``batches`` batches of ``n``.

    CPU time, not wall time: PostgreSQL's and Redis's share of a request runs in their processes.
    """
    best = float("inf")
    for _ in range(batches):
        started = time.process_time()
        for _ in range(n):
            request()
        best = min(best, (time.process_time() - started) / n)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--only", help="comma-separated endpoint name prefixes")
    parser.add_argument("--tree", type=int, default=0,
                        help="print the N functions with the most calls beneath them (inclusive), for one request")
    parser.add_argument("--top", type=int, default=0, help="print the N most expensive functions per endpoint")
    parser.add_argument("--sql", action="store_true", help="print the statements of one request per endpoint")
    parser.add_argument("--plans", action="store_true",
                        help="at the end, how PostgreSQL planned each server-side prepared statement: a generic "
                             "plan kept, or a custom plan made on every EXECUTE (pg_prepared_statements)")
    parser.add_argument("--time", type=int, default=0, metavar="BATCHES",
                        help="also time the endpoint without the profiler: CPU µs per request, the best of "
                             "BATCHES batches of --requests (in process, so less noisy than a load run)")
    args = parser.parse_args()

    env = {**ENV, "DATABASE_URL": os.environ["DATABASE_URL"],
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
           "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="bnpl-cost-prom-")}
    os.environ.update(env)
    if args.reseed or not FIXTURE.exists():
        recreate_database(env["DATABASE_URL"].rsplit("/", 1)[1])
        migrate({**os.environ})
    import django

    django.setup()
    import logging

    # The access line is built and formatted as in production, then written to nowhere.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
    if args.reseed or not FIXTURE.exists():
        from bench.api import seed

        fx = seed(6000, 1200)
        FIXTURE.write_text(json.dumps(fx))
    fx = json.loads(FIXTURE.read_text())

    import redis.connection
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    counts = {"sql": 0, "redis": 0}

    def count_sql(execute, sql, params, many, context):
        counts["sql"] += 1
        return execute(sql, params, many, context)

    original_send = redis.connection.AbstractConnection.send_packed_command

    def send(self, command, check_health=True):
        counts["redis"] += 1
        return original_send(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
    app = WSGIHandler()
    statuses: dict[int, int] = {}

    def call(make):
        out = []
        chunks = app(make(), lambda status, headers, exc_info=None: out.append(status))
        b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        code = int(out[0].split()[0])
        statuses[code] = statuses.get(code, 0) + 1
        return code

    rows = []
    for name, make in endpoints(fx).items():
        if args.only and not any(name.startswith(p) for p in args.only.split(",")):
            continue
        for _ in range(10):
            call(make)
        statuses.clear()
        counts.update(sql=0, redis=0)
        with connection.execute_wrapper(count_sql):
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.requests):
                call(make)
            profile.disable()
        calls: int = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
        n = args.requests
        rows.append((name, calls / n, counts["sql"] / n, counts["redis"] / n, dict(statuses)))
        line = f"{name:26} {calls / n:8,.0f} calls  {counts['sql'] / n:5.1f} SQL  {counts['redis'] / n:4.1f} Redis"
        timing = f"  {best_cpu_us(lambda make=make: call(make), n, args.time):7.0f} µs" if args.time else ""
        print(f"{line}{timing}  {statuses}", flush=True)
        if args.sql:
            statements: list[str] = []

            def record(execute, sql, *rest, statements=statements):
                statements.append(sql)
                return execute(sql, *rest)
            with connection.execute_wrapper(record):
                call(make)
            for number, sql in enumerate(statements, start=1):
                print(f"  {number:2}. {' '.join(sql.split())[:SQL_WIDTH]}")
        if args.tree:
            print_tree(lambda make=make: call(make), args.tree)
        if args.top:
            s = io.StringIO()
            stats = pstats.Stats(profile, stream=s).sort_stats(os.environ.get("COST_SORT", "tottime"))
            stats.print_stats(args.top)
            if os.environ.get("COST_CALLERS"):
                stats.print_callers(os.environ["COST_CALLERS"])
            print(s.getvalue())
    if args.plans and connection.vendor == "postgresql":
        print_plans(connection)
    print("\n| endpoint | calls | SQL | Redis |\n| --- | ---: | ---: | ---: |")
    for name, calls, sql, rds, _ in rows:
        print(f"| `{name}` | {calls:,.0f} | {sql:g} | {rds:g} |")


def print_plans(connection) -> None:
    """The session's prepared statements, each with how often PostgreSQL planned it generically (once
    for all its EXECUTEs) or customarily (again on each one, as for a plain statement)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, generic_plans, custom_plans, statement FROM pg_prepared_statements "
                       "ORDER BY generic_plans + custom_plans DESC")
        rows = cursor.fetchall()
    print("\n| statement | generic plans | custom plans | text |\n| --- | ---: | ---: | --- |")
    for name, generic, custom, statement in rows:
        text = " ".join(statement.split()).split(" AS ", 1)[-1]
        print(f"| {name} | {generic} | {custom} | `{text[:SQL_WIDTH]}` |")


if __name__ == "__main__":
    main()
