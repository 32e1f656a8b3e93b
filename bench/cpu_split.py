"""Where a request's CPU goes under load: gunicorn, PostgreSQL and Redis, in core-ms per request.

    .venv/bin/python bench/cpu_split.py [--workers 2 --threads 4] ["GET /users/{id}/" ...]

Runs on bench/api.py's seeded database (run ``bench/api.py --seed-only`` first) with the same
production settings and gunicorn shape: starts floor A and the API, drives each named endpoint
(bench/api.py's names; default: the floors, the authenticated floor and one read and one write)
with wrk for ``--seconds``, and reads the CPU time every gunicorn, postgres and redis-server
process spent meanwhile from /proc. A ratio of req/s says how much slower an endpoint is; this
says whose CPU the difference is (the database's share of a write, say), on a 2-core machine
where the server, the database, Redis and wrk share the cores.
"""
import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import api  # noqa: E402

DEFAULT = [api.FLOOR_A, api.FLOOR_B, api.AUTH_FLOOR, "GET /users/{id}/", "POST /plans/ (12 inst.)"]


def cpu_ticks() -> dict[str, int]:
    """User + system clock ticks so far, summed per kind of process."""
    totals: dict[str, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        kind = ("gunicorn" if b"gunicorn" in cmdline else "postgres" if name.startswith("postgres")
                else "redis" if name.startswith("redis") else None)
        if kind:
            totals[kind] = totals.get(kind, 0) + int(fields[11]) + int(fields[12])
            if kind == "gunicorn":
                totals["gunicorn-sys"] = totals.get("gunicorn-sys", 0) + int(fields[12])
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoints", nargs="*", default=DEFAULT)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--root", type=Path, help="serve the API from another checkout (a git worktree) instead")
    args = parser.parse_args()
    fixture = json.loads((api.ROOT / "bench" / ".api-fixture.json").read_text())
    data = api.write_wrk_data(fixture)
    env = api.server_env()
    if args.root:
        (api.ROOT / "bench" / ".prometheus-base").mkdir(exist_ok=True)
        api.PORTS["api"] = api.PORTS["base"]  # the endpoints name the "api" server
    servers = [api.start_server(env, args.workers, args.threads, kind="floor"),
               api.start_server(env, args.workers, args.threads, **(
                   {"kind": "base", "root": args.root.resolve()} if args.root else {}))]
    hz = os.sysconf("SC_CLK_TCK")
    print(f"gunicorn {args.workers} workers x {args.threads} threads, wrk 8 connections, {args.seconds} s each")
    print("| endpoint | req/s | gunicorn | (of it kernel) | postgres | redis | total core-ms per request |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    try:
        for name in args.endpoints:
            api.load(name, data, 8, 1)  # warm: compiled statements, renderers, connections
            before = cpu_ticks()
            result = api.load(name, data, 8, args.seconds)
            after = cpu_ticks()
            requests = result["rps"] * args.seconds
            split = {kind: (after.get(kind, 0) - before.get(kind, 0)) / hz * 1000 / requests
                     for kind in ("gunicorn", "gunicorn-sys", "postgres", "redis")}
            total = split["gunicorn"] + split["postgres"] + split["redis"]
            print(f"| `{name}` | {result['rps']:.0f} | {split['gunicorn']:.3f} | {split['gunicorn-sys']:.3f} | "
                  f"{split['postgres']:.3f} | {split['redis']:.3f} | {total:.3f} |")
    finally:
        for server in servers:
            os.killpg(server.pid, 15)


if __name__ == "__main__":
    main()
