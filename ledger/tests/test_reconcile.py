"""``manage.py reconcile``: one JSON line, exit 1 on any mismatch, the run stored for health and metrics."""
import json
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from debt.services import repayment_apply
from ledger.models import ReconciliationRun
from ledger.selectors import last_reconciliation
from plans.models import Installment, Plan
from plans.tests.factories import make_plan

pytestmark = [pytest.mark.django_db, pytest.mark.money]


def _run() -> tuple[str | int | None, dict]:
    out = StringIO()
    try:
        call_command("reconcile", stdout=out)
        code: str | int | None = 0
    except SystemExit as exc:
        code = exc.code
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return code, json.loads(lines[0])


def test_books_that_agree_exit_0_with_the_counts():
    plan = make_plan(total_amount="300.00")
    repayment_apply(user=plan.user, amount=12345)
    assert last_reconciliation() is None
    code, result = _run()
    assert code == 0
    assert (result["plans_checked"], result["installments_checked"], result["transactions_checked"]) == (1, 3, 2)
    assert result["mismatches"] == [] and result["mismatch_count"] == 0 and result["duration_ms"] >= 0
    run = last_reconciliation()
    assert (run.mismatch_count, run.installments_checked, run.error) == (0, 3, "")


def test_a_cache_that_disagrees_with_the_journal_exits_1_and_names_it():
    plan = make_plan(total_amount="300.00")
    first = Installment.objects.get(plan=plan, sequence=1)
    # A write that bypassed the services (and so the journal).
    Installment.objects.filter(pk=first.pk).update(paid_amount=1, status="UPCOMING")
    Plan.objects.filter(pk=plan.pk).update(paid_amount=1)
    code, result = _run()
    assert code == 1 and result["mismatch_count"] == 1
    assert result["mismatches"] == [{"type": "installment", "id": str(first.pk), "field": "paid_amount",
                                     "stored": "0.01", "journal": "0.00"}]
    assert last_reconciliation().mismatch_count == 1


def test_a_plan_that_disagrees_with_its_installments_is_named():
    plan = make_plan(total_amount="300.00")
    with connection.cursor() as cursor:  # past the CHECK constraints' reach: total vs installments
        cursor.execute("UPDATE plans_plan SET total_amount = total_amount + 100 WHERE id = %s",
                       [Plan._meta.pk.get_db_prep_value(plan.pk, connection)])
    code, result = _run()
    assert code == 1
    assert {(m["type"], m["field"]) for m in result["mismatches"]} == {("plan", "amount")}


def test_an_unbalanced_transaction_is_found():
    """Written past the posting service (which refuses it): reconciliation is the second line."""
    from ledger.models import JournalEntry, JournalTransaction

    plan = make_plan(total_amount="300.00")
    with transaction.atomic():
        tx = JournalTransaction.objects.create(kind="repayment", plan_id=plan.pk, user_id=plan.user_id, amount=5,
                                               business_date="2026-01-01", source_type="repayment",
                                               source_id=uuid.uuid4())
        JournalEntry.objects.create(transaction=tx, kind="repayment", account="cash", amount=5)
    code, result = _run()
    assert code == 1
    assert [m for m in result["mismatches"] if m["type"] == "transaction"] == [
        {"type": "transaction", "id": str(tx.pk), "balance": "0.05", "entries": 1, "debits": "0.05",
         "amount": "0.05"}]


def test_the_last_run_is_the_latest_finished_one():
    make_plan()
    _run()
    _run()
    assert ReconciliationRun.objects.count() == 2
    assert last_reconciliation() == ReconciliationRun.objects.order_by("-started_at").first()


def test_the_beat_task_runs_it(settings):
    from ledger.tasks import reconcile

    make_plan()
    assert settings.CELERY_BEAT_SCHEDULE["ledger-reconcile"]["task"] == "ledger.tasks.reconcile"
    result = reconcile.apply().get()
    assert result["mismatch_count"] == 0 and "mismatches" not in result
