"""The database itself refuses UPDATE and DELETE of journal rows (API.md §11).

PostgreSQL: a BEFORE UPDATE OR DELETE row trigger raising an error. TRUNCATE fires no row
trigger, so the test runner's flush (TRUNCATE) still empties the tables between transactional
tests; TRUNCATE needs the table's owner or the TRUNCATE privilege, which a production
application role should not hold (docs/SECURITY.md).
SQLite: BEFORE UPDATE / BEFORE DELETE triggers that RAISE(ABORT). Django's flush on SQLite is a
DELETE, so SQLite tests that write journal rows use rollback-style tests (``db``, ``TestCase``).
"""
from django.db import migrations

TABLES = ("ledger_journaltransaction", "ledger_journalentry")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'journal rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION ledger_journal_append_only()")
    elif connection.vendor == "sqlite":
        for table in TABLES:
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'journal rows are append-only: {op} on {table} refused'); END")
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"no append-only triggers for {connection.vendor}")


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        schema_editor.execute("DROP FUNCTION IF EXISTS ledger_journal_append_only()")
    elif connection.vendor == "sqlite":
        for table in TABLES:
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
