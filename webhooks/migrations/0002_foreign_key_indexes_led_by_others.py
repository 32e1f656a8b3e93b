"""Drop the foreign keys' own indexes where another index or unique constraint already leads with
the column: each one cost every write an index entry and served no read the other does not.

Only the state changes through ``AlterField``: on the database it would also drop and re-add
the foreign key (a scan of the whole table under lock) and, on PostgreSQL, any other index it
finds on the column that is not in ``Meta.indexes``, such as a partial unique constraint's.
Here each index is dropped by name, and nothing else.
"""
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('merchants', '0001_initial'),
        ('webhooks', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='webhookevent',
                    name='merchant',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='webhook_events', to='merchants.merchant'),
                ),
            ],
            database_operations=[
                # webhook_event_once_per_merchant leads with merchant_id
                migrations.RunSQL('DROP INDEX IF EXISTS "webhooks_webhookevent_merchant_id_4434502e"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "webhooks_webhookevent_merchant_id_4434502e" ON "webhooks_webhookevent" ("merchant_id")'),
            ],
        ),
    ]
