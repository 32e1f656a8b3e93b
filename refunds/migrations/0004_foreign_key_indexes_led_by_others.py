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
        ('plans', '0008_foreign_key_indexes_led_by_others'),
        ('refunds', '0003_return_pause_backfill'),
        ('users', '0002_customer_credit_limit'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='refund',
                    name='merchant',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='refunds', to='merchants.merchant'),
                ),
                migrations.AlterField(
                    model_name='refund',
                    name='plan',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='refunds', to='plans.plan'),
                ),
                migrations.AlterField(
                    model_name='refund',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='refunds', to='users.customer'),
                ),
            ],
            database_operations=[
                # refund_transaction_per_merchant leads with merchant_id
                migrations.RunSQL('DROP INDEX IF EXISTS "refunds_refund_merchant_id_bc44f600"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "refunds_refund_merchant_id_bc44f600" ON "refunds_refund" ("merchant_id")'),
                # refund_plan_status_idx leads with plan_id
                migrations.RunSQL('DROP INDEX IF EXISTS "refunds_refund_plan_id_a5f73faf"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "refunds_refund_plan_id_a5f73faf" ON "refunds_refund" ("plan_id")'),
                # refund_user_created_idx leads with user_id
                migrations.RunSQL('DROP INDEX IF EXISTS "refunds_refund_user_id_7900b780"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "refunds_refund_user_id_7900b780" ON "refunds_refund" ("user_id")'),
            ],
        ),
    ]
