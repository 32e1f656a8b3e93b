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
        ('plans', '0007_delinquency'),
        ('users', '0002_customer_credit_limit'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='installment',
                    name='plan',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='installments', to='plans.plan'),
                ),
                migrations.AlterField(
                    model_name='latefee',
                    name='installment',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='late_fees', to='plans.installment'),
                ),
                migrations.AlterField(
                    model_name='plan',
                    name='merchant',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='plans', to='merchants.merchant'),
                ),
                migrations.AlterField(
                    model_name='plan',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='plans', to='users.customer'),
                ),
            ],
            database_operations=[
                # installment_sequence_per_plan leads with plan_id
                migrations.RunSQL('DROP INDEX IF EXISTS "plans_installment_plan_id_5ed3a850"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "plans_installment_plan_id_5ed3a850" ON "plans_installment" ("plan_id")'),
                # late_fee_once_per_step leads with installment_id
                migrations.RunSQL('DROP INDEX IF EXISTS "plans_latefee_installment_id_684b4fbc"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "plans_latefee_installment_id_684b4fbc" ON "plans_latefee" ("installment_id")'),
                # plan_merchant_created_idx leads with merchant_id
                migrations.RunSQL('DROP INDEX IF EXISTS "plans_plan_merchant_id_e5280a01"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "plans_plan_merchant_id_e5280a01" ON "plans_plan" ("merchant_id")'),
                # plan_user_created_idx leads with user_id
                migrations.RunSQL('DROP INDEX IF EXISTS "plans_plan_user_id_59ffc911"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "plans_plan_user_id_59ffc911" ON "plans_plan" ("user_id")'),
            ],
        ),
    ]
