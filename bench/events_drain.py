"""How fast a backlog of events is delivered: this checkout's delivery code against another's, interleaved.

Each round puts the same backlog of undispatched events (copies of a real ``installment.paid``
payload, 14 per repayment as in ``bench/events.py``) into the outbox, starts ``--procs`` drainer
processes from one checkout (each running ``events_pump`` in a loop, as the Celery worker's
processes do, ``BNPL_WEBHOOK_DELIVERY_THREADS`` threads each), and times from "go" to the last
receipt at an https receiver on 127.0.0.1 (its own process, keep-alive, a private CA trusted
through ``SSL_CERT_FILE``). With ``--compare <checkout>`` (a ``git worktree`` of the base commit)
both checkouts drain the same backlog in alternating order every round, under the same noise;
the figures to read are the ratios of their rates, round by round, and the drainers' own CPU
time per event (user + system, ``time.process_time``), which depends far less on the machine's
load than wall-clock rates do.

    .venv/bin/python bench/events_drain.py --events 20000 --rounds 3 --compare /tmp/bnpl-main

Only the delivery path differs between the two (same database, schema, receiver, endpoint): run
it against a base whose migrations match this checkout's.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import PY, ROOT, bench_env, machine, migrate, recreate_database, setup_django  # noqa: E402
from bench.events import RECEIVER, make_ca, start  # noqa: E402

DB = os.environ.get("BENCH_DB", "bnpl_bench_events_drain")

DRAINER = r'''
import os, sys, time
sys.path.insert(0, os.getcwd())
import django
django.setup()
from django.db import connection
from events.services import events_pump
ready, go = sys.argv[1:3]
connection.ensure_connection()
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
cpu = time.process_time()
idle = 0
while idle < 3:
    totals = events_pump(budget_seconds=5)
    idle = idle + 1 if not (totals["dispatched"] or totals["attempted"]) else 0
    if idle:
        time.sleep(0.2)
open(ready + ".cpu", "w").write(str(time.process_time() - cpu))
'''


def seed_backlog(n: int, data: str) -> None:
    from django.db import connection, transaction

    from events.models import new_event_id

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM events_webhookdelivery")
        cursor.execute("DELETE FROM events_event")
        for start_at in range(0, n, 1000):
            rows = [(new_event_id(), "installment.paid", data) for _ in range(min(1000, n - start_at))]
            cursor.execute("INSERT INTO events_event (id, type, merchant_id, data, created_at) VALUES "
                           + ", ".join(["(%s, %s, NULL, %s::jsonb, now())"] * len(rows)),
                           [v for row in rows for v in row])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE events_event")
        cursor.execute("VACUUM ANALYZE events_webhookdelivery")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain(checkout: Path, env: dict, procs: int, n: int, receipts: Path, tmp: Path, timeout: float,
          receiver_pid: int) -> dict:
    before = sum(1 for _ in open(receipts)) if receipts.exists() else 0
    receiver_cpu = cpu_seconds(receiver_pid)
    go = tmp / "go"
    go.unlink(missing_ok=True)
    readies = [tmp / f"ready-{i}" for i in range(procs)]
    for r in readies:
        r.unlink(missing_ok=True)
    workers = [subprocess.Popen([PY, "-c", DRAINER, str(r), str(go)], cwd=checkout,
                                env={**env, "PYTHONPATH": str(checkout)}, stdout=open(tmp / f"drainer-{i}.log", "w"),  # noqa: SIM115
                                stderr=subprocess.STDOUT) for i, r in enumerate(readies)]
    while not all(r.exists() for r in readies):
        if any(w.poll() is not None for w in workers):
            raise SystemExit(f"a drainer from {checkout} died: see {tmp}/drainer-*.log")
        time.sleep(0.05)
    load = os.getloadavg()[0]
    go_at = time.time()
    go.touch()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = open(receipts).readlines()[before:] if receipts.exists() else []
        if len({line.split("\t")[0] for line in lines}) >= n:
            break
        time.sleep(0.2)
    for w in workers:
        w.wait(timeout=60)
    lines = open(receipts).readlines()[before:]
    times = [float(line.split("\t")[1]) for line in lines]
    distinct = len({line.split("\t")[0] for line in lines})
    elapsed = max(times) - go_at
    cpu = sum(float(Path(f"{r}.cpu").read_text()) for r in readies)
    receiver_cpu = cpu_seconds(receiver_pid) - receiver_cpu
    return {"delivered": distinct, "posts": len(lines), "seconds": round(elapsed, 2),
            "per_s": round(distinct / elapsed, 1), "drainer_cpu_ms_per_event": round(cpu * 1000 / distinct, 3),
            "receiver_cpu_ms_per_event": round(receiver_cpu * 1000 / distinct, 3), "load_at_start": round(load, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--procs", type=int, default=2, help="drainer processes (the worker's prefork concurrency)")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--compare", type=Path, help="another checkout (git worktree) to drain the same backlog")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    ca_file, server_pem = make_ca(tmp)
    env = bench_env(DB, BNPL_WEBHOOK_ALLOW_PRIVATE="1", SSL_CERT_FILE=ca_file,
                    BNPL_WEBHOOK_DELIVERY_THREADS=str(args.threads),
                    REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/6"))
    recreate_database(DB)
    migrate(env)
    setup_django(env)

    from datetime import date
    from decimal import Decimal

    from bnpl.money import to_minor
    from debt.services import repayment_apply
    from events.models import Audience, Event
    from events.services import webhook_endpoint_create
    from merchants.services import merchant_create
    from plans.services import plan_create
    from users.services import user_create

    user = user_create(full_name="Drain", phone_number="+998900000001", passport_number="AB0000001",
                       date_of_birth=date(1990, 5, 17))
    plan_create(user=user, merchant=merchant_create(name="Drain merchant"), total_amount=to_minor(Decimal("1200")),
                installment_count=12)
    repayment_apply(user=user, amount=to_minor(Decimal("1200")))
    data = json.dumps(Event.objects.filter(type="installment.paid").latest("id").data)

    port_file, receipts = tmp / "port", tmp / "receipts.tsv"
    receiver = start([PY, "-c", RECEIVER, str(port_file), str(receipts), server_pem], env, tmp / "receiver.log")
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        webhook_endpoint_create(url=f"https://localhost:{int(port_file.read_text())}/hooks",
                                audience=Audience.CLIENT, merchant=None)
        sides = [("this", ROOT)] + ([("base", args.compare.resolve())] if args.compare else [])
        results: dict[str, list[dict]] = {name: [] for name, _ in sides}
        for round_no in range(args.rounds):
            order = sides if round_no % 2 == 0 else list(reversed(sides))
            for name, checkout in order:
                seed_backlog(args.events, data)
                result = drain(checkout, env, args.procs, args.events, receipts, tmp, args.timeout, receiver.pid)
                results[name].append(result)
                print(f"round {round_no + 1} {name}: {json.dumps(result)}", flush=True)
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    summary = {name: statistics.median(r["per_s"] for r in rs) for name, rs in results.items()}
    out = {"median_per_s": summary, "load_average_before": [round(x, 2) for x in load_before],
           "load_average_after": [round(x, 2) for x in os.getloadavg()], "machine": machine(),
           "events": args.events, "procs": args.procs, "threads": args.threads}
    if args.compare:
        pairs = list(zip(results["this"], results["base"], strict=True))
        out["rate_ratio_per_round"] = [round(a["per_s"] / b["per_s"], 2) for a, b in pairs]
        out["cpu_ratio_per_round"] = [round(a["drainer_cpu_ms_per_event"] / b["drainer_cpu_ms_per_event"], 2)
                                      for a, b in pairs]
    out["drainer_cpu_ms_per_event"] = {name: statistics.median(r["drainer_cpu_ms_per_event"] for r in rs)
                                       for name, rs in results.items()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
