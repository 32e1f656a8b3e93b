"""Foreign keys without an index of their own where another index leads with the column (``bnpl.index_migration``)."""
import django.db.models.deletion
from django.db import migrations, models

from bnpl.index_migration import foreign_key_index_dropped


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY (bnpl.index_migration)

    dependencies = [
        ('merchants', '0001_initial'),
        ('plans', '0007_delinquency'),
        ('users', '0002_customer_credit_limit'),
    ]

    operations = [
        # installment_sequence_per_plan leads with plan_id
        foreign_key_index_dropped(
            'installment', 'plan',
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='installments', to='plans.plan'),
            table='plans_installment', index='plans_installment_plan_id_5ed3a850'),
        # late_fee_once_per_step leads with installment_id
        foreign_key_index_dropped(
            'latefee', 'installment',
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='late_fees', to='plans.installment'),
            table='plans_latefee', index='plans_latefee_installment_id_684b4fbc'),
        # plan_merchant_created_idx leads with merchant_id
        foreign_key_index_dropped(
            'plan', 'merchant',
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='plans', to='merchants.merchant'),
            table='plans_plan', index='plans_plan_merchant_id_e5280a01'),
        # plan_user_created_idx leads with user_id
        foreign_key_index_dropped(
            'plan', 'user',
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='plans', to='users.customer'),
            table='plans_plan', index='plans_plan_user_id_59ffc911'),
    ]
