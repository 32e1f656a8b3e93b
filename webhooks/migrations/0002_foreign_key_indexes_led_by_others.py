"""Foreign keys without an index of their own where another index leads with the column (``bnpl.index_migration``)."""
import django.db.models.deletion
from django.db import migrations, models

from bnpl.index_migration import foreign_key_index_dropped


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY (bnpl.index_migration)

    dependencies = [
        ('merchants', '0001_initial'),
        ('webhooks', '0001_initial'),
    ]

    operations = [
        # webhook_event_once_per_merchant leads with merchant_id
        foreign_key_index_dropped(
            'webhookevent', 'merchant',
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='webhook_events', to='merchants.merchant'),
            table='webhooks_webhookevent', index='webhooks_webhookevent_merchant_id_4434502e'),
    ]
