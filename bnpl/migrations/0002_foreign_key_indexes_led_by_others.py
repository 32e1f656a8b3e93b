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
        ('bnpl', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='idempotencyrecord',
                    name='api_key',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='bnpl.apikey'),
                ),
            ],
            database_operations=[
                # idempotency_key_per_api_key leads with api_key_id
                migrations.RunSQL('DROP INDEX IF EXISTS "bnpl_idempotencyrecord_api_key_id_c0b22994"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "bnpl_idempotencyrecord_api_key_id_c0b22994" ON "bnpl_idempotencyrecord" ("api_key_id")'),
            ],
        ),
    ]
