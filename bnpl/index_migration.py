"""A foreign key's own index dropped where another index of the model leads with its column.

Django indexes every foreign key; where a composite index or a unique constraint of the same model
already leads with the column, that index serves no read the other does not, and every write to the
table pays an entry in it (``bnpl/tests/test_indexes.py`` finds any such index).

Used by the apps' migrations that set ``db_index=False`` on those foreign keys. The state changes
through ``AlterField``; on the database only the index is dropped, by name. Django's own
``AlterField`` would also drop and re-add the foreign key (a scan of the whole table under lock)
and, on PostgreSQL, drop every other index it finds on the column that ``Meta.indexes`` does not
name, such as the partial unique index of a ``UniqueConstraint`` with a condition.
"""
from django.db import migrations, models


def foreign_key_index_dropped(model_name: str, name: str, field: models.ForeignKey, *,
                              table: str, index: str) -> migrations.SeparateDatabaseAndState:
    """``AlterField(model_name, name, field)`` in the state; ``DROP INDEX index`` on the database
    (``CREATE INDEX`` on ``table``'s column again when reversed)."""
    create = f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{name}_id")'
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AlterField(model_name=model_name, name=name, field=field)],
        database_operations=[migrations.RunSQL(f'DROP INDEX IF EXISTS "{index}"', reverse_sql=create)],
    )
