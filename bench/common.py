"""Shared pieces of the benchmarks: a scratch database, Django set up against it, medians."""
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def bench_env(db_name: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db_name}",
        "DJANGO_SETTINGS_MODULE": "bnpl.settings.local",
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
    })
    env.update(extra)
    return env


def recreate_database(db_name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [db_name])
        cur.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        cur.execute(f'CREATE DATABASE "{db_name}"')
    conn.close()


def vacuum(db_name: str) -> None:
    """``VACUUM (ANALYZE)`` the database: what autovacuum does to a live one after a batch of writes.
    The bench machines' PostgreSQL runs with ``autovacuum = off``, so without it a seeded book is
    measured with its visibility map unset (no index-only scan is index-only) and the sweep's dead
    rows in place, which no deployment with autovacuum sees for long."""
    _maintain(db_name, "VACUUM (ANALYZE)")


def analyze_if_no_autovacuum(db_name: str) -> bool:
    """``ANALYZE`` the database when the server's autovacuum is off, standing in for its analyze
    (50 rows + 10% of a table changed): returns whether it ran.

    The writes' statements are server-prepared, and a prepared statement's generic plan is kept
    until something invalidates it, such as an ANALYZE of a table it reads. A seed vacuumed while
    the write-only tables (idempotency records, journal, refunds, repayments) are still empty
    leaves them marked as known empty; the generic plans built on that are sequential scans, and
    with no autovacuum nothing replaces them while the tables grow under the load: the writes
    fell round by round (2026-12-01 19:19 run, 77,637 sequential scans of the journal)."""
    if _maintain("postgres", "SHOW autovacuum") == "on":
        return False
    _maintain(db_name, "ANALYZE")
    return True


def _maintain(db_name: str, sql: str) -> str | None:
    """Run one statement outside a transaction (VACUUM refuses one); the first column of its first row."""
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=db_name)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            row = cur.fetchone() if cur.description else None
    finally:
        conn.close()
    return row[0] if row else None


def migrate(env: dict[str, str]) -> None:
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def cpu_ticks() -> tuple[int, int]:
    """(all, stolen) clock ticks of every core so far (/proc/stat): on a VM, "stolen" is the time
    the hypervisor gave this machine's cores to another guest while they had work."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[7]


def stolen_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the cores' time the hypervisor took between two ``cpu_ticks()``."""
    total = after[0] - before[0]
    return (after[1] - before[1]) / total if total > 0 else 0.0


def machine() -> str:
    cpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    mem = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.split("\n")[1].split()[1]
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{cpu} cores, {mem} GiB RAM, {pg}, Python {sys.version.split()[0]}"
