"""The race suite's scenario (``bnpl/tests/race_scenario.py``), longer and wider, by hand.

    .venv/bin/python bench/race.py --seconds 60 --threads 16 [--users 4] [--write]

Recreates a scratch database (``bnpl_bench_race``), seeds the few users and plans, runs the
threads over the HTTP API (Django's in-process client, one connection per thread) and the
sweep threads, then prints operations by outcome and every invariant violation. Exits 1 on
any 5xx, deadlock, unexpected answer or violation. ``--write`` appends the numbers to
bench/RESULTS.md under "## Race suite".
"""
import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, bench_env, machine, migrate, recreate_database, setup_django  # noqa: E402

DB = "bnpl_bench_race"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--sweepers", type=int, default=2)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="append the numbers to bench/RESULTS.md")
    args = parser.parse_args()

    # The rate limit is per key and every thread shares a handful of keys: lift it for the run.
    env = bench_env(DB, BNPL_RATE_LIMIT="100000000/min", DB_CONN_MAX_AGE="0")
    recreate_database(DB)
    migrate(env)
    setup_django(env)

    from bnpl.tests import race_scenario
    from plans.models import Plan

    world = race_scenario.seed(users=args.users)
    seeded_plans = Plan.objects.count()
    report = race_scenario.run(world, seconds=args.seconds, threads=args.threads, sweepers=args.sweepers,
                               seed=args.seed)
    violations = race_scenario.check_invariants(report, seeded_plans=seeded_plans)

    total = len(report.outcomes)
    keyed = sum(1 for o in report.outcomes if o.key)
    replayed = sum(1 for o in report.outcomes if o.replayed)
    summary = [
        f"{total} requests in {report.seconds:.1f} s ({total / report.seconds:.0f}/s) by {args.threads} threads "
        f"on {args.users} users, {keyed} with an Idempotency-Key ({replayed} replayed); "
        f"sweeps: {dict(report.sweeps)}",
        f"5xx: {len(report.server_errors())}, deadlocks (pg_stat_database): {report.deadlocks}, "
        f"unexpected answers: {sum(report.unexpected.values())}, invariant violations: {len(violations)}",
    ]
    print(report.table())
    print("\n".join(summary))
    for line in report.errors[:10] + violations[:50]:
        print("!", line)
    if report.unexpected:
        print("! unexpected:", dict(report.unexpected))

    if args.write:
        command = (f".venv/bin/python bench/race.py --seconds {args.seconds:g} --threads {args.threads} "
                   f"--users {args.users} --sweepers {args.sweepers} --seed {args.seed}")
        text = (f"\n## Race suite\n\n{datetime.now(UTC):%Y-%m-%d}, {machine()}.\n\n    {command}\n\n"
                + "\n".join(f"{line}  " for line in summary) + "\n\n" + report.table() + "\n")
        results = ROOT / "bench" / "RESULTS.md"
        if not results.exists():
            results.write_text("# Benchmark results\n")
        with results.open("a") as out:
            out.write(text)
    failed = report.server_errors() or report.deadlocks or report.unexpected or violations or report.errors
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
