"""Foreign keys without an index of their own where another index leads with the column (``bnpl.index_migration``)."""
import django.db.models.deletion
from django.db import migrations, models

from bnpl.index_migration import foreign_key_index_dropped, index_dropped


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY (bnpl.index_migration)

    dependencies = [
        ('events', '0001_initial'),
        ('merchants', '0001_initial'),
    ]

    operations = [
        # event_merchant_idx leads with merchant_id
        foreign_key_index_dropped(
            'event', 'merchant',
            models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='merchants.merchant'),
            table='events_event', index='events_event_merchant_id_6e7dbada'),
        # delivery_endpoint_idx leads with endpoint_id
        foreign_key_index_dropped(
            'webhookdelivery', 'endpoint',
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='deliveries', to='events.webhookendpoint'),
            table='events_webhookdelivery', index='events_webhookdelivery_endpoint_id_f76dcfbe'),
        # delivery_event_idx leads with event_id
        foreign_key_index_dropped(
            'webhookdelivery', 'event',
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='deliveries', to='events.event'),
            table='events_webhookdelivery', index='events_webhookdelivery_event_id_c8fd55d9'),
        # PostgreSQL's varchar_pattern_ops twins of the event id's indexes, for LIKE on a text key,
        # which nothing runs; every write's event paid for the primary key's one.
        index_dropped("events_event_id_75d2cab3_like", table="events_event", column="id",
                      opclass="varchar_pattern_ops", postgresql_only=True),
        index_dropped("events_webhookdelivery_event_id_c8fd55d9_like", table="events_webhookdelivery",
                      column="event_id", opclass="varchar_pattern_ops", postgresql_only=True),
    ]
