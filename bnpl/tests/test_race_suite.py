"""Everything at once on a few users, over HTTP, with real threads on PostgreSQL; then every invariant.

The scenario (``race_scenario.py``): repayments by amount and by installment ids, refund
creations (a small pool of transaction ids, so the natural idempotency races too), approvals,
rejections, cancellations, plan creations (some back-dated, so debt appears while others repay
it) and two threads calling the sweep service, for a bounded time, with Idempotency-Keys sent
by two threads at once. ``bench/race.py`` runs the same for longer.
"""
import pytest

from bnpl.tests import race_scenario
from plans.models import Plan

# The marker makes pytest-django create the test database; each test flushes it afterwards.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SECONDS, THREADS = 12, 8


@pytest.fixture(scope="module")
def report(django_db_setup, django_db_blocker):
    # Module scope: the run is costly; each test below asserts one family of rules on it.
    with django_db_blocker.unblock():
        world = race_scenario.seed()
        seeded_plans = Plan.objects.count()
        report = race_scenario.run(world, seconds=SECONDS, threads=THREADS, seed=20260131)
        violations = race_scenario.check_invariants(report, seeded_plans=seeded_plans)
    return report, violations


def test_no_server_error_no_deadlock_no_hang(report):
    report, _ = report
    assert report.errors == [], "\n".join(report.errors[:5])
    assert report.server_errors() == []
    assert report.deadlocks == 0, f"PostgreSQL counted {report.deadlocks} deadlocks"
    assert report.sweeps["error"] == 0


def test_every_answer_is_one_the_contract_allows(report):
    report, _ = report
    assert not report.unexpected, report.unexpected


def test_the_run_really_raced(report):
    """The numbers that make the run meaningful: each kind of operation succeeded and was refused."""
    report, _ = report
    counts = report.counts
    done = {op for (op, status, _), n in counts.items() if status in (200, 201) and n}
    assert {"repay_amount", "repay_ids", "refund_create", "refund_approve", "plan_create"} <= done, counts
    refused = {(op, code) for (op, status, code) in counts if status == 409}
    assert ("repay_ids", "invalid_state") in refused, counts
    assert ("refund_approve", "invalid_state") in refused or ("refund_reject", "invalid_state") in refused, counts
    # The ledger's operator actions raced too: reversals and payout actions, won and refused.
    assert "repay_reverse" in done, counts
    # (Payout actions need an approved refund with a payout first: bench/race.py's longer runs reach them.)
    assert any(o.replayed for o in report.outcomes), "no Idempotency-Key was ever replayed"
    assert any(o.op == "key_misuse" and o.status == 422 for o in report.outcomes)
    assert report.sweeps["ran"] > 0


def test_every_invariant_holds_afterwards(report):
    _, violations = report
    assert violations == [], "\n".join(violations[:20])
