"""The posting service and the database's refusal to change journal rows."""
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from ledger.models import Account, JournalEntry, JournalTransaction, Kind, SourceType
from ledger.services import Line, Posting, UnbalancedPosting, journal_post

ROOT = Path(__file__).resolve().parents[2]


def _posting(**overrides: Any) -> Posting:
    user, plan = uuid.uuid4(), uuid.uuid4()
    values: dict[str, Any] = {"kind": Kind.REPAYMENT, "user_id": user, "plan_id": plan, "amount": 500,
              "source_type": SourceType.REPAYMENT, "source_id": uuid.uuid4(), "outstanding_after": 100,
              "lines": [Line(Account.CASH, 500), Line(Account.RECEIVABLE, -300, installment_id=uuid.uuid4()),
                        Line(Account.RECEIVABLE, -200, installment_id=uuid.uuid4())]}
    values.update(overrides)
    return Posting(**values)


@pytest.mark.django_db
@pytest.mark.money
def test_a_balanced_posting_is_one_statement_whatever_its_size():
    postings = [_posting(), _posting()]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        journal_post(postings=postings)
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == (1 if connection.vendor == "postgresql" else 2), statements
    assert JournalTransaction.objects.count() == 2
    assert JournalEntry.objects.count() == 6
    for tx in JournalTransaction.objects.all():
        assert sum(tx.entries.values_list("amount", flat=True)) == 0
        assert tx.entries.filter(kind=tx.kind).count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize("overrides", [
    {"lines": [Line(Account.CASH, 500), Line(Account.RECEIVABLE, -499)]},          # does not sum to zero
    {"lines": [Line(Account.CASH, 500)], "amount": 500},                           # one leg
    {"lines": [Line(Account.CASH, 500), Line(Account.RECEIVABLE, -500)], "amount": 400},  # amount != debits
    {"lines": [Line(Account.CASH, 0), Line(Account.RECEIVABLE, 0)], "amount": 1},  # empty legs
    {"lines": [Line("suspense", 500), Line(Account.CASH, -500)]},                  # not in the chart
    {"amount": 0},
    {"kind": "adjustment"},
])
def test_an_unbalanced_or_malformed_posting_is_refused_and_writes_nothing(overrides):
    with pytest.raises(UnbalancedPosting), transaction.atomic():
        journal_post(postings=[_posting(), _posting(**overrides)])
    assert JournalTransaction.objects.count() == 0 and JournalEntry.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_posting_outside_a_transaction_is_refused():
    if connection.vendor != "postgresql":
        pytest.skip("a transactional test (SQLite's flush is a DELETE)")
    with pytest.raises(AssertionError):
        journal_post(postings=[_posting()])


def _one_posting():
    with transaction.atomic():
        journal_post(postings=[_posting()])
    return JournalTransaction.objects.get(), JournalEntry.objects.first()


@pytest.mark.django_db
@pytest.mark.parametrize("table", ["ledger_journaltransaction", "ledger_journalentry"])
@pytest.mark.parametrize("statement", ["UPDATE {table} SET amount = amount + 1", "DELETE FROM {table}"])
def test_the_database_refuses_update_and_delete_of_journal_rows(table, statement):
    """As the application's own database user (the connection the service uses)."""
    _one_posting()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement.format(table=table))
    assert JournalTransaction.objects.get().amount == 500
    assert sorted(JournalEntry.objects.values_list("amount", flat=True)) == [-300, -200, 500]


@pytest.mark.django_db
def test_the_orm_cannot_edit_or_delete_journal_rows_either():
    tx, entry = _one_posting()
    for attempt in (lambda: JournalTransaction.objects.filter(pk=tx.pk).update(outstanding_after=0),
                    lambda: JournalEntry.objects.filter(pk=entry.pk).update(amount=1),
                    lambda: entry.delete()):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    assert JournalTransaction.objects.get().outstanding_after == 100


@pytest.mark.django_db(transaction=True)
def test_transactional_tests_still_flush_the_journal():
    """PostgreSQL's flush is a TRUNCATE, which fires no row trigger: this test's rows go at teardown."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's flush is a DELETE: SQLite journal tests use rollback-style tests")
    _one_posting()
    assert JournalTransaction.objects.count() == 1


@pytest.mark.slow
def test_sqlite_refuses_update_and_delete_of_journal_rows_too(tmp_path):
    """The embedded default: migrate a fresh SQLite file, post through the service, then try to change it."""
    db = tmp_path / "bnpl.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "DJANGO_SETTINGS_MODULE": "bnpl.settings.test"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    subprocess.run([sys.executable, "-c", (
        "import django; django.setup()\n"
        "from django.db import transaction\n"
        "from ledger.tests.test_journal import _posting\n"
        "from ledger.services import journal_post\n"
        "with transaction.atomic():\n"
        "    journal_post(postings=[_posting()])\n")], cwd=ROOT, env=env, check=True, timeout=60)
    with sqlite3.connect(db) as raw:
        for table in ("ledger_journaltransaction", "ledger_journalentry"):
            for statement in (f"UPDATE {table} SET amount = amount + 1", f"DELETE FROM {table}"):  # noqa: S608
                with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                    raw.execute(statement)
        assert raw.execute("SELECT COUNT(*) FROM ledger_journalentry").fetchone() == (3,)
