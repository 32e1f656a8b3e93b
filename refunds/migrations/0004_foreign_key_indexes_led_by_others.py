"""Foreign keys without an index of their own where another index leads with the column (``bnpl.index_migration``)."""
import django.db.models.deletion
from django.db import migrations, models

from bnpl.index_migration import foreign_key_index_dropped


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY (bnpl.index_migration)

    dependencies = [
        ('merchants', '0001_initial'),
        ('plans', '0008_foreign_key_indexes_led_by_others'),
        ('refunds', '0003_return_pause_backfill'),
        ('users', '0002_customer_credit_limit'),
    ]

    operations = [
        # refund_transaction_per_merchant leads with merchant_id
        foreign_key_index_dropped(
            'refund', 'merchant',
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='refunds', to='merchants.merchant'),
            table='refunds_refund', index='refunds_refund_merchant_id_bc44f600'),
        # refund_plan_status_idx leads with plan_id
        foreign_key_index_dropped(
            'refund', 'plan',
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='refunds', to='plans.plan'),
            table='refunds_refund', index='refunds_refund_plan_id_a5f73faf'),
        # refund_user_created_idx leads with user_id
        foreign_key_index_dropped(
            'refund', 'user',
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='refunds', to='users.customer'),
            table='refunds_refund', index='refunds_refund_user_id_7900b780'),
    ]
