"""The database's indexes: each one the models declare is there, and none repeats another.

Django gives every foreign key an index of its own. Where a composite index or a unique constraint
of the model already leads with that column, the foreign key's index serves no read the other does
not, and every write to the table pays an entry in it: a plan with 12 installments paid 16 such
entries (bench/RESULTS.md, "Request path, eighth pass"). The models say ``db_index=False`` there.
"""
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection

pytestmark = pytest.mark.django_db

# A non-unique, non-partial btree index whose columns (and operator classes) lead another
# non-partial index of the same table: every lookup it serves, the other serves too.
REDUNDANT = """
SELECT a.indrelid::regclass::text, a.indexrelid::regclass::text, b.indexrelid::regclass::text
  FROM pg_index a
  JOIN pg_index b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid
  JOIN pg_class ca ON ca.oid = a.indexrelid
  JOIN pg_class cb ON cb.oid = b.indexrelid
 WHERE NOT a.indisunique AND a.indpred IS NULL AND b.indpred IS NULL
   AND a.indexprs IS NULL AND b.indexprs IS NULL AND ca.relam = cb.relam
   AND (b.indkey::text = a.indkey::text OR b.indkey::text LIKE a.indkey::text || ' %%')
   AND (b.indclass::text = a.indclass::text OR b.indclass::text LIKE a.indclass::text || ' %%')
   AND a.indrelid::regclass::text = ANY(%s)
"""


def _own_models():
    """The models of this repository's apps (not Django's, not a library's)."""
    root = Path(settings.BASE_DIR)
    return [model for config in apps.get_app_configs()
            if Path(config.path).is_relative_to(root) and ".venv" not in Path(config.path).parts
            for model in config.get_models()]


def test_the_own_apps_are_found():
    tables = {model._meta.db_table for model in _own_models()}
    assert {"plans_installment", "ledger_journalentry", "bnpl_idempotencyrecord", "events_event"} <= tables
    assert not any(table.startswith(("auth_", "django_", "axes_")) for table in tables)


def test_no_index_of_the_apps_repeats_the_leading_columns_of_another():
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's catalog")
    with connection.cursor() as cursor:
        cursor.execute(REDUNDANT, [[model._meta.db_table for model in _own_models()]])
        redundant = cursor.fetchall()
    assert redundant == [], "an index repeats the leading columns of another (table, index, led by)"


def test_the_check_sees_a_repeated_index():
    """The query above is not vacuous: a foreign key's own index beside the constraint that leads with it."""
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's catalog")
    with connection.cursor() as cursor:
        cursor.execute('CREATE INDEX "test_repeated_idx" ON "plans_installment" ("plan_id")')
        cursor.execute(REDUNDANT, [["plans_installment"]])
        assert cursor.fetchall() == [("plans_installment", "test_repeated_idx", "installment_sequence_per_plan")]


def test_every_index_and_constraint_the_models_declare_is_in_the_database():
    """Including the partial unique ones (``installment_one_extension_per_plan``...), which an
    ``AlterField`` of the column's foreign key would have dropped with the foreign key's index."""
    with connection.cursor() as cursor:
        for model in _own_models():
            declared = {item.name for item in [*model._meta.indexes, *model._meta.constraints]}
            present = set(connection.introspection.get_constraints(cursor, model._meta.db_table))
            assert declared <= present, (model._meta.db_table, declared - present)


def test_the_migrations_hold_what_the_models_say():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)  # SystemExit(1) if a change is missing
    assert "No changes detected" in out.getvalue()
