"""Index changes that never queue a table's writes: a foreign key's own index dropped where another
index of the model leads with its column, and an index replaced by another built beside it.

Django indexes every foreign key; where a composite index or a unique constraint of the same model
already leads with the column, that index serves no read the other does not, and every write to the
table pays an entry in it (``bnpl/tests/test_indexes.py`` finds any such index).

Used by the apps' migrations that set ``db_index=False`` on those foreign keys. The state changes
through ``AlterField``; on the database only the index is dropped, by name. Django's own
``AlterField`` would also drop and re-add the foreign key (a scan of the whole table under lock)
and, on PostgreSQL, drop every other index it finds on the column that ``Meta.indexes`` does not
name, such as the partial unique index of a ``UniqueConstraint`` with a condition.

On PostgreSQL the index is dropped (and, reversed, built) ``CONCURRENTLY``, so that the migration
never queues the table's writes behind its lock: the migrations using this say ``atomic = False``,
as PostgreSQL allows ``CONCURRENTLY`` only outside a transaction. SQLite has no such option.
"""
from django.db import migrations, models


def _can_build_concurrently(schema_editor) -> bool:
    connection = schema_editor.connection
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _concurrently(schema_editor) -> str:
    return " CONCURRENTLY" if _can_build_concurrently(schema_editor) else ""


def index_dropped(index: str, *, table: str, column: str, opclass: str = "",
                  postgresql_only: bool = False) -> migrations.RunPython:
    """``DROP INDEX index``; reversed, ``CREATE INDEX index ON table (column [opclass])`` again.
    ``postgresql_only``: an index only PostgreSQL has (an operator class's)."""
    def applies(schema_editor) -> bool:
        return not postgresql_only or schema_editor.connection.vendor == "postgresql"

    def drop(apps, schema_editor):
        if applies(schema_editor):
            schema_editor.execute(f'DROP INDEX{_concurrently(schema_editor)} IF EXISTS "{index}"')

    def create(apps, schema_editor):
        if applies(schema_editor):
            schema_editor.execute(f'CREATE INDEX{_concurrently(schema_editor)} IF NOT EXISTS "{index}" '
                                  f'ON "{table}" ("{column}"{" " + opclass if opclass else ""})')

    return migrations.RunPython(drop, create)


def foreign_key_index_dropped(model_name: str, name: str, field: models.ForeignKey, *,
                              table: str, index: str) -> migrations.SeparateDatabaseAndState:
    """``AlterField(model_name, name, field)`` in the state; ``DROP INDEX index`` on the database
    (``CREATE INDEX`` on ``table``'s column again when reversed)."""
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AlterField(model_name=model_name, name=name, field=field)],
        database_operations=[index_dropped(index, table=table, column=f"{name}_id")],
    )


def _index_changed(apps, schema_editor, model_name: str, index: models.Index, *, build: bool) -> None:
    """``index`` built (or dropped) on ``model_name``'s table, ``CONCURRENTLY`` where PostgreSQL allows it."""
    model = apps.get_model(model_name)
    change = schema_editor.add_index if build else schema_editor.remove_index
    if _can_build_concurrently(schema_editor):
        change(model, index, concurrently=True)
    else:
        change(model, index)


def index_replaced(model_name: str, *, old: models.Index, new: models.Index) -> migrations.SeparateDatabaseAndState:
    """``RemoveIndex(old)`` and ``AddIndex(new)`` in the state (``model_name`` is "app.Model"); on
    the database ``new`` is built first and ``old`` dropped after it, so the reads ``old`` served
    always have one of the two (reversed: ``old`` built again, then ``new`` dropped). On PostgreSQL
    both ``CONCURRENTLY``; the migration says ``atomic = False``."""
    name = model_name.split(".")[1].lower()

    def forwards(apps, schema_editor):
        _index_changed(apps, schema_editor, model_name, new, build=True)
        _index_changed(apps, schema_editor, model_name, old, build=False)

    def backwards(apps, schema_editor):
        _index_changed(apps, schema_editor, model_name, old, build=True)
        _index_changed(apps, schema_editor, model_name, new, build=False)

    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.RemoveIndex(model_name=name, name=old.name),
                          migrations.AddIndex(model_name=name, index=new)],
        database_operations=[migrations.RunPython(forwards, backwards)],
    )
