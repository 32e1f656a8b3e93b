"""Foreign keys without an index of their own where another index leads with the column (``bnpl.index_migration``)."""
import django.db.models.deletion
from django.db import migrations, models

from bnpl.index_migration import foreign_key_index_dropped


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY (bnpl.index_migration)

    dependencies = [
        ('debt', '0006_allocation_fee_amount'),
        ('users', '0002_customer_credit_limit'),
    ]

    operations = [
        # repayment_user_created_idx leads with user_id
        foreign_key_index_dropped(
            'repayment', 'user',
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='repayments', to='users.customer'),
            table='debt_repayment', index='debt_repayment_user_id_b43f595f'),
        # allocation_once_per_installment leads with repayment_id
        foreign_key_index_dropped(
            'repaymentallocation', 'repayment',
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='allocations', to='debt.repayment'),
            table='debt_repaymentallocation', index='debt_repaymentallocation_repayment_id_ed8236f9'),
    ]
