"""Schemathesis over every operation and role, wider than CI (``bnpl/tests/test_schemathesis.py``).

    .venv/bin/python bench/fuzz.py --examples 500 [--workers 2] [-k EXPR] [--verbose] [--write]

Runs the same test module with ``FUZZ_MAX_EXAMPLES`` generated requests per operation and role
(positive, negative and aimed at real ids; Hypothesis derandomized, so a run is repeatable), on
the test database of ``DATABASE_URL``. Prints pytest's summary; ``--write`` appends it to
bench/RESULTS.md under "## Schemathesis". ``-k`` selects operations and roles as pytest does
(``-k "events and operator"``: rerun what a fix touched, or split a long run); ``--verbose``
streams each test's result as it ends, so an interrupted run still shows what it covered.
Exits with pytest's status.
"""
import argparse
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, machine  # noqa: E402

MODULE = "bnpl/tests/test_schemathesis.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500, help="generated requests per operation and role")
    parser.add_argument("--workers", type=int, default=1, help="pytest-xdist workers (1: none)")
    parser.add_argument("-k", dest="select", default=None, help="pytest -k expression (operations, roles)")
    parser.add_argument("--verbose", action="store_true", help="stream one line per operation and role")
    parser.add_argument("--write", action="store_true", help="append the summary to bench/RESULTS.md")
    args = parser.parse_args()

    command = [sys.executable, "-m", "pytest", MODULE, "-v" if args.verbose else "-q", "-p", "no:logging",
               "--no-header"]
    if args.workers > 1:
        command += ["-n", str(args.workers)]
    if args.select:
        command += ["-k", args.select]
    env = {**os.environ, "FUZZ_MAX_EXAMPLES": str(args.examples)}
    started = time.monotonic()
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as process:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if args.verbose and re.search(r"(PASSED|FAILED|ERROR)", line):
                print(f"{time.monotonic() - started:7.0f} s  {line.rstrip()}", flush=True)
    elapsed = time.monotonic() - started
    output = "".join(lines)
    result = process
    summary = next((line.strip("= ") for line in reversed(output.splitlines())
                    if re.search(r"\d+ (passed|failed|error)", line)), "no summary")
    failed = [line for line in output.splitlines() if line.startswith("FAILED")]
    print(output if result.returncode else summary)

    if args.write:
        line = f"{args.examples} examples per operation and role; {summary}; {elapsed:.0f} s wall"
        text = (f"\n## Schemathesis\n\n{datetime.now(UTC):%Y-%m-%d}, {machine()}.\n\n"
                f"    .venv/bin/python bench/fuzz.py --examples {args.examples} --workers {args.workers}"
                f"{f' -k {args.select!r}' if args.select else ''}\n\n"
                f"{line}.\n" + "".join(f"\n    {f}" for f in failed))
        results = ROOT / "bench" / "RESULTS.md"
        if not results.exists():
            results.write_text("# Benchmark results\n")
        with results.open("a") as out:
            out.write(text)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
