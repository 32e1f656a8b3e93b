"""Drop the foreign keys' own indexes where another index or unique constraint already leads with
the column: each one cost every write an index entry and served no read the other does not.

Only the state changes through ``AlterField``: on the database it would also drop and re-add
the foreign key (a scan of the whole table under lock) and, on PostgreSQL, any other index it
finds on the column that is not in ``Meta.indexes``, such as a partial unique constraint's.
Here each index is dropped by name, and nothing else.
"""
import django.db.models.deletion
from django.db import migrations, models

# PostgreSQL's varchar_pattern_ops twins of the event id's indexes, for LIKE on a text key, which
# nothing runs; every write's event paid for the primary key's one. (SQLite has none.)
_LIKE_INDEXES = [("events_event_id_75d2cab3_like", "events_event", "id"),
                 ("events_webhookdelivery_event_id_c8fd55d9_like", "events_webhookdelivery", "event_id")]


def _drop_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, _, _ in _LIKE_INDEXES:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def _create_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, table, column in _LIKE_INDEXES:
            schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}" varchar_pattern_ops)')


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0001_initial'),
        ('merchants', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='event',
                    name='merchant',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='merchants.merchant'),
                ),
                migrations.AlterField(
                    model_name='webhookdelivery',
                    name='endpoint',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='deliveries', to='events.webhookendpoint'),
                ),
                migrations.AlterField(
                    model_name='webhookdelivery',
                    name='event',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='deliveries', to='events.event'),
                ),
            ],
            database_operations=[
                # event_merchant_idx leads with merchant_id
                migrations.RunSQL('DROP INDEX IF EXISTS "events_event_merchant_id_6e7dbada"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "events_event_merchant_id_6e7dbada" ON "events_event" ("merchant_id")'),
                # delivery_endpoint_idx leads with endpoint_id
                migrations.RunSQL('DROP INDEX IF EXISTS "events_webhookdelivery_endpoint_id_f76dcfbe"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "events_webhookdelivery_endpoint_id_f76dcfbe" ON "events_webhookdelivery" ("endpoint_id")'),
                # delivery_event_idx leads with event_id
                migrations.RunSQL('DROP INDEX IF EXISTS "events_webhookdelivery_event_id_c8fd55d9"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "events_webhookdelivery_event_id_c8fd55d9" ON "events_webhookdelivery" ("event_id")'),
                migrations.RunPython(_drop_like_indexes, _create_like_indexes),
            ],
        ),
    ]
