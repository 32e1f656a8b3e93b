"""The overdue rule is written once (``plans/overdue.py``) in three forms, SQL, ORM and Python:
they agree on every edge (the cutoff day, the grace days, a pause ending today or tomorrow), on
PostgreSQL and SQLite; and the migration's estimate of ``overdue_since`` for rows already OVERDUE."""
import importlib
from datetime import date, timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from bnpl import dates
from plans.models import OPEN_STATUSES, Installment
from plans.overdue import OVERDUE_SQL, days_past_due, is_overdue, max_days_past_due, overdue_q
from plans.tests.factories import make_plan

pytestmark = [pytest.mark.django_db, pytest.mark.money]

TODAY = date(2025, 6, 15)


@pytest.mark.parametrize("grace", [0, 3])
def test_the_sql_orm_and_python_forms_of_the_rule_agree(business_day, grace):
    business_day(date(2025, 1, 1))
    plan = make_plan(total_amount="120.00", installment_count=12, start_date=date(2025, 1, 1))
    business_day(TODAY)
    rows = list(plan.installments.order_by("sequence"))
    cutoff = TODAY - timedelta(days=grace)
    # Due dates on both sides of the cutoff, pauses none, ended, ending today, ending tomorrow.
    dues = [cutoff - timedelta(days=2), cutoff - timedelta(days=1), cutoff, cutoff + timedelta(days=1)]
    pauses = [None, TODAY - timedelta(days=1), TODAY, TODAY + timedelta(days=1)]
    cases = [(due, pause) for due in dues for pause in pauses][:len(rows)]
    for row, (due, pause) in zip(rows, cases, strict=False):
        Installment.objects.filter(pk=row.pk).update(due_date=due, collection_paused_until=pause)
    with override_settings(BNPL_GRACE_DAYS=grace):
        assert dates.overdue_cutoff(TODAY) == cutoff
        by_python = {i.pk for i in plan.installments.all() if is_overdue(i, cutoff=cutoff, today=TODAY)}
        by_orm = set(plan.installments.filter(overdue_q(cutoff=cutoff, today=TODAY), status__in=OPEN_STATUSES)
                     .values_list("pk", flat=True))
        prep = Installment._meta.get_field("due_date").get_db_prep_value
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM plans_installment WHERE plan_id = %(plan)s AND {OVERDUE_SQL}",  # noqa: S608
                           {"plan": Installment._meta.get_field("plan").get_db_prep_value(plan.pk, connection),
                            "cutoff": prep(cutoff, connection), "today": prep(TODAY, connection)})
            by_sql = {Installment._meta.pk.to_python(pk) for (pk,) in cursor.fetchall()}
    expected = {row.pk for row, (due, pause) in zip(rows, cases, strict=False)
                if due < cutoff and (pause is None or pause <= TODAY)}
    assert by_python == by_orm == by_sql == expected
    assert len(expected) == 6  # two due dates before the cutoff x (no pause, pause ended, pause ends today)


@settings(max_examples=400, deadline=None)
@given(due=st.integers(-40, 40), grace=st.integers(0, 10), pause=st.none() | st.integers(-5, 5),
       status=st.sampled_from(["UPCOMING", "OVERDUE", "PAID", "CANCELLED"]), stored_max=st.integers(0, 60))
def test_days_past_due_is_the_rule_in_days(due, grace, pause, status, stored_max):
    """API.md §13: today - due date - grace while the rule holds, else 0 (its shortcut for an
    installment not yet due included); the maximum keeps the stored one."""
    installment = Installment(due_date=TODAY + timedelta(days=due), status=status, max_days_past_due=stored_max,
                              collection_paused_until=None if pause is None else TODAY + timedelta(days=pause))
    cutoff = TODAY - timedelta(days=grace)
    expected = ((cutoff - installment.due_date).days
                if status in OPEN_STATUSES and installment.due_date < cutoff
                and (pause is None or installment.collection_paused_until <= TODAY) else 0)
    with override_settings(BNPL_GRACE_DAYS=grace):
        assert days_past_due(installment, today=TODAY) == expected
        assert max_days_past_due(installment, today=TODAY) == max(stored_max, expected)


def test_the_migration_estimates_overdue_since_from_the_due_date_and_grace(business_day):
    business_day(date(2025, 1, 31))
    plan = make_plan(total_amount="900.00", start_date=date(2025, 1, 31))
    Installment.objects.filter(plan=plan, sequence=1).update(status="OVERDUE", overdue_since=None)
    Installment.objects.filter(plan=plan, sequence=2).update(status="OVERDUE", overdue_since=date(2025, 4, 2))
    migration = importlib.import_module("plans.migrations.0007_delinquency")


    class Editor:  # what the migration uses of a schema editor (a real one cannot run in a test's transaction)
        def execute(self, sql, params):
            with connection.cursor() as cursor:
                cursor.execute(sql, params)

    Editor.connection = connection
    with override_settings(BNPL_GRACE_DAYS=2):
        migration.overdue_since_estimate(apps, Editor())
    assert list(plan.installments.order_by("sequence").values_list("overdue_since", flat=True)) == [
        date(2025, 3, 3), date(2025, 4, 2), None]  # 28 Feb + 2 + 1; a recorded day is kept; not overdue: none
