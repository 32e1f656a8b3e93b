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
        ('debt', '0006_allocation_fee_amount'),
        ('users', '0002_customer_credit_limit'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='repayment',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='repayments', to='users.customer'),
                ),
                migrations.AlterField(
                    model_name='repaymentallocation',
                    name='repayment',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='allocations', to='debt.repayment'),
                ),
            ],
            database_operations=[
                # repayment_user_created_idx leads with user_id
                migrations.RunSQL('DROP INDEX IF EXISTS "debt_repayment_user_id_b43f595f"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "debt_repayment_user_id_b43f595f" ON "debt_repayment" ("user_id")'),
                # allocation_once_per_installment leads with repayment_id
                migrations.RunSQL('DROP INDEX IF EXISTS "debt_repaymentallocation_repayment_id_ed8236f9"',
                                  reverse_sql='CREATE INDEX IF NOT EXISTS "debt_repaymentallocation_repayment_id_ed8236f9" ON "debt_repaymentallocation" ("repayment_id")'),
            ],
        ),
    ]
