"""The overdue sweep (API.md §6): set-based, chunked, idempotent, recorded."""
import json
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from debt import services
from debt.models import SweepRun
from debt.services import sweep_overdue
from debt.tasks import sweep_overdue as sweep_task
from plans import installments
from plans.models import Installment, InstallmentStatus, Plan
from plans.tests.factories import make_plan
from users.models import Customer, UserStatus
from users.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

START = date(2025, 1, 31)  # dues 2025-02-28, 03-31, 04-30


@pytest.fixture
def on_start(business_day):
    business_day(START)


def statuses(plan: Plan) -> list[str]:
    return list(plan.installments.order_by("sequence").values_list("status", flat=True))


def user_status(user) -> str:
    return Customer.objects.values_list("status", flat=True).get(pk=user.pk)


def test_marks_past_due_installments_and_their_users(on_start):
    late, fine = CustomerFactory(), CustomerFactory()
    p_late = make_plan(user=late, start_date=START - timedelta(days=20))  # first due 2025-02-11
    p_fine = make_plan(user=fine, start_date=START)  # first due 2025-02-28
    result = sweep_overdue(today=date(2025, 2, 20))
    assert statuses(p_late) == ["OVERDUE", "UPCOMING", "UPCOMING"]
    assert statuses(p_fine) == ["UPCOMING", "UPCOMING", "UPCOMING"]
    assert result["installments_marked_overdue"] == 1 and result["users_marked_debt"] == 1
    assert result["skipped"] is False and result["cutoff_date"] == "2025-02-20"
    assert user_status(late) == UserStatus.DEBT_USER and user_status(fine) == UserStatus.NORMAL


def test_due_today_is_not_overdue_and_a_settled_one_never_is(on_start):
    user = CustomerFactory()
    plan = make_plan(user=user, start_date=START)
    first = plan.installments.get(sequence=1)
    Installment.objects.filter(pk=first.pk).update(paid_amount=first.amount, status=InstallmentStatus.PAID)
    assert sweep_overdue(today=date(2025, 2, 28))["installments_marked_overdue"] == 0
    result = sweep_overdue(today=date(2025, 4, 1))
    assert statuses(plan) == ["PAID", "OVERDUE", "UPCOMING"]
    assert result["installments_marked_overdue"] == 1 and user_status(user) == UserStatus.DEBT_USER


def test_a_second_run_changes_nothing(on_start):
    users = [CustomerFactory() for _ in range(3)]
    for user in users:
        make_plan(user=user, start_date=START)
    first = sweep_overdue(today=date(2025, 5, 1))
    before = sorted(Installment.objects.values_list("id", "status"))
    second = sweep_overdue(today=date(2025, 5, 1))
    assert first["installments_marked_overdue"] == 9 and first["users_marked_debt"] == 3
    assert {k: second[k] for k in ("installments_marked_overdue", "users_marked_debt", "users_restored")} == {
        "installments_marked_overdue": 0, "users_marked_debt": 0, "users_restored": 0}
    assert sorted(Installment.objects.values_list("id", "status")) == before


def test_self_heals_user_statuses_both_ways(on_start):
    stale_debt, stale_normal = CustomerFactory(), CustomerFactory()
    make_plan(user=stale_debt, start_date=START)
    plan = make_plan(user=stale_normal, start_date=START)
    Customer.objects.filter(pk=stale_debt.pk).update(status=UserStatus.DEBT_USER)  # nothing overdue
    # Past due and marked OVERDUE while the user stayed NORMAL.
    Installment.objects.filter(plan=plan, sequence=1).update(status=InstallmentStatus.OVERDUE,
                                                              due_date=START - timedelta(days=1))
    result = sweep_overdue(today=START)
    assert result["users_restored"] == 1 and result["users_marked_debt"] == 1
    assert user_status(stale_debt) == UserStatus.NORMAL and user_status(stale_normal) == UserStatus.DEBT_USER


@pytest.mark.parametrize("grace, today, overdue", [
    (0, date(2025, 2, 28), False),
    (0, date(2025, 3, 1), True),
    (3, date(2025, 3, 3), False),
    (3, date(2025, 3, 4), True),
])
def test_grace_days(on_start, grace, today, overdue):
    user = CustomerFactory()
    plan = make_plan(user=user, start_date=START)
    with override_settings(BNPL_GRACE_DAYS=grace):
        sweep_overdue(today=today)
    assert (statuses(plan)[0] == "OVERDUE") is overdue
    assert (user_status(user) == UserStatus.DEBT_USER) is overdue


def test_today_defaults_to_the_business_date(business_day):
    business_day(START)
    plan = make_plan(start_date=START)
    business_day(date(2025, 3, 1))
    assert sweep_overdue()["cutoff_date"] == "2025-03-01"
    assert statuses(plan)[0] == "OVERDUE"


@pytest.mark.parametrize("sweep", ["postgresql", "orm"])
def test_small_chunks_reach_every_row(on_start, sweep, monkeypatch):
    """Chunks of 2 over 12 installments and 4 users: nothing missed, nothing twice; the ORM
    path (SQLite's) gives the same result on PostgreSQL."""
    users = [CustomerFactory() for _ in range(4)]
    plans = [make_plan(user=user, start_date=START) for user in users]
    healed = CustomerFactory()
    Customer.objects.filter(pk=healed.pk).update(status=UserStatus.DEBT_USER)
    if sweep == "orm":
        monkeypatch.setattr(services, "_sweep_postgresql", services._sweep_orm)
    result = sweep_overdue(today=date(2025, 5, 1), chunk_size=2)
    assert result["installments_marked_overdue"] == 12
    assert result["users_marked_debt"] == 4 and result["users_restored"] == 1
    assert all(statuses(plan) == ["OVERDUE"] * 3 for plan in plans)
    assert user_status(healed) == UserStatus.NORMAL
    assert sweep_overdue(today=date(2025, 5, 1), chunk_size=2)["installments_marked_overdue"] == 0


def test_every_run_is_recorded(on_start):
    make_plan(start_date=START)
    sweep_overdue(today=date(2025, 3, 1))
    run = SweepRun.objects.get()
    assert run.finished_at >= run.started_at and run.duration_ms is not None
    assert (run.cutoff_date, run.installments_marked_overdue, run.users_marked_debt, run.users_restored,
            run.skipped, run.error) == (date(2025, 3, 1), 1, 1, 0, False, "")


def test_a_failed_run_is_recorded_and_releases_the_lock(on_start, monkeypatch):
    def boom(cutoff, today, chunk_size):
        raise RuntimeError("row (secret) failed")

    monkeypatch.setattr(services, "_sweep_postgresql", boom)
    with pytest.raises(RuntimeError):
        sweep_overdue(today=START)
    run = SweepRun.objects.get()
    assert run.error == "RuntimeError" and run.finished_at is not None  # no message: it may quote row data
    monkeypatch.undo()
    assert sweep_overdue(today=START)["skipped"] is False


def test_metrics_hook_is_called_when_present(on_start, monkeypatch):
    seen = []
    monkeypatch.setattr(services, "observe_sweep", lambda duration, counts: seen.append((duration, counts)))
    make_plan(start_date=START)
    sweep_overdue(today=date(2025, 3, 1))
    assert len(seen) == 1 and seen[0][0] >= 0 and seen[0][1]["installments_marked_overdue"] == 1


def test_management_command_prints_one_json_line(on_start):
    make_plan(start_date=START)
    out = StringIO()
    call_command("sweep_overdue", "--today", "2025-03-01", stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["installments_marked_overdue"] == 1 and result["users_marked_debt"] == 1
    assert isinstance(result["duration_ms"], int)


def test_celery_task_runs_the_sweep(business_day):
    business_day(START)
    plan = make_plan(start_date=START)
    business_day(date(2025, 3, 1))
    result = sweep_task.delay().get()
    assert result["installments_marked_overdue"] == 1 and statuses(plan)[0] == "OVERDUE"
    assert sweep_task.name == "debt.tasks.sweep_overdue"


def test_raw_sql_names_the_models_tables():
    assert Installment._meta.db_table == "plans_installment"
    assert Customer._meta.db_table == "users_customer"


def test_marking_uses_the_partial_index(on_start):
    from django.db import connection

    make_plan(start_date=START)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # tiny tables: ask which index the planner can use
        cursor.execute("EXPLAIN " + installments._MARK_INSTALLMENTS_SQL, {
            "cutoff": START, "today": START, "after_due": date.min, "after_id": installments._ZERO_UUID, "limit": 10})
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "installment_upcoming_due_idx" in plan


def test_restoring_reads_only_the_overdue_index(on_start):
    from django.db import connection

    make_plan(start_date=START)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + installments._RESTORE_INSTALLMENTS_SQL, {
            "cutoff": START, "today": START, "after_id": installments._ZERO_UUID, "limit": 10})
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "installment_user_overdue_idx" in plan
