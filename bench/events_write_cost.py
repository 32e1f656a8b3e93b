"""What recording events costs a write: each service timed with and without its event_record calls,
in interleaved rounds (so the shared machine's noise hits both alike), medians compared.

    .venv/bin/python bench/events_write_cost.py [--rounds 10] [--per-round 20]

Services, as the API calls them, on PostgreSQL: ``plan_create`` (1 event), ``refund_create`` (1),
``repayment_apply`` paying off a 12-installment plan (14 events). "Without" replaces the events
functions by no-ops in the calling modules, which is the code before the outbox. Calls with and
without alternate one by one; both wall-clock and the process's own CPU time (which a loaded
machine disturbs far less; it leaves out the database server's share) are reported. The CPU time
includes the after-commit nudge to a worker, sent by a background thread: with no worker running
here, no pump holds the nudge key, so every write pays a broker publish (the idle-system worst
case; under a steady load a busy pump holds the key and writes publish nothing).
"""
import argparse
import json
import os
import statistics
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import bench_env, migrate, recreate_database, setup_django  # noqa: E402

DB = os.environ.get("BENCH_DB", "bnpl_bench_events_cost")
TOTAL_MAJOR = "1200.00"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--pump-busy", action="store_true",
                        help="Hold the nudge key as a busy pump does (the steady state under load): a write's "
                             "nudge is then one debounced Redis SET, never a broker publish.")
    args = parser.parse_args()
    env = bench_env(DB)
    recreate_database(DB)
    migrate(env)
    setup_django(env)

    import debt.services as debt_services
    import events.services as event_services
    import plans.installments as installments
    import plans.services as plan_services
    import refunds.services as refund_services
    from bnpl.money import to_minor
    from events.types import represent
    from merchants.services import merchant_create
    from users.services import user_create

    merchant = merchant_create(name="cost")
    TOTAL = to_minor(Decimal(TOTAL_MAJOR))  # noqa: N806
    counter = iter(range(10**7))

    def new_user():
        n = next(counter)
        return user_create(full_name="c", phone_number=f"+99893{n:07d}", passport_number=f"CC{n:07d}",
                           date_of_birth=date(1990, 1, 1))

    def timed(on: bool, call) -> tuple[float, float]:
        """The call's wall time, and the process's CPU time until its after-commit work (the nudge,
        sent by a background thread) is done too. Everything before the call (its setup) runs with
        events off, so no background work of the setup overlaps the call."""
        events(on)
        if args.pump_busy:
            event_services._kick_hold()
        started, cpu = time.perf_counter(), time.process_time()
        call()
        wall = time.perf_counter() - started
        time.sleep(0.15)  # the nudging thread's send (and its debounce window) ends meanwhile
        used = time.process_time() - cpu
        events(False)
        return wall, used

    def plan_create(on: bool):
        user = new_user()
        return timed(on, lambda: plan_services.plan_create(user=user, merchant=merchant, total_amount=TOTAL,
                                                           installment_count=12))

    def refund_create(on: bool):
        plan = plan_services.plan_create(user=new_user(), merchant=merchant, total_amount=TOTAL,
                                         installment_count=12).plan
        assert plan is not None
        return timed(on, lambda: refund_services.refund_create(plan=plan, transaction_id=f"t{next(counter)}",
                                                               amount=to_minor(Decimal("10.00"))))

    def repayment(on: bool):
        user = new_user()
        plan_services.plan_create(user=user, merchant=merchant, total_amount=TOTAL, installment_count=12)
        return timed(on, lambda: debt_services.repayment_apply(user=user, amount=TOTAL))

    # Modules patched in place (typed Any: mypy cannot follow attributes set on a module).
    real: dict[Any, tuple[Any, Any]] = {m: (m.event_record, getattr(m, "event_record_many", None))
                                        for m in (plan_services, debt_services, refund_services, installments)}

    def no_event(*, type: str, obj: Any, **kwargs: Any) -> event_services.RecordedEvent:  # noqa: A002
        # A plan's response is its event's data (plans.services._announced): without the outbox the
        # view would build that representation itself, so "without" still builds it.
        return event_services.RecordedEvent(id="", data=represent(type, obj) if type.startswith("plan.") else {})

    def events(on: bool) -> None:
        for module, (one, many) in real.items():
            swaps = [("event_record", one if on else no_event)]
            if many is not None:
                swaps.append(("event_record_many", many if on else (lambda **kwargs: [])))
            for name, function in swaps:
                setattr(module, name, function)

    names = ("plan_create", "refund_create", "repayment_apply")
    timings: dict = {(name, on): [] for name in names for on in (True, False)}
    # Interleaved call by call, the order alternating: the load's drift hits both sides alike.
    for round_no in range(args.rounds):
        for name, run in zip(names, (plan_create, refund_create, repayment), strict=True):
            for i in range(args.per_round):
                for on in ((False, True) if (round_no + i) % 2 == 0 else (True, False)):
                    timings[(name, on)].append(run(on))
    events(True)
    out: dict = {}
    for name in names:
        row: dict[str, float] = {}
        for label, index in (("wall", 0), ("cpu", 1)):
            without = statistics.median(t[index] for t in timings[(name, False)]) * 1000
            with_ = statistics.median(t[index] for t in timings[(name, True)]) * 1000
            row |= {f"{label}_without_ms": round(without, 2), f"{label}_with_ms": round(with_, 2),
                    f"{label}_overhead_percent": round((with_ / without - 1) * 100, 1)}
        out[name] = row
    out["pump_busy"] = args.pump_busy
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
