"""Foreign keys without an index of their own where another index leads with the column (``bnpl.index_migration``)."""
import django.db.models.deletion
from django.db import migrations, models

from bnpl.index_migration import foreign_key_index_dropped


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY (bnpl.index_migration)

    dependencies = [
        ('bnpl', '0001_initial'),
    ]

    operations = [
        # idempotency_key_per_api_key leads with api_key_id
        foreign_key_index_dropped(
            'idempotencyrecord', 'api_key',
            models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='bnpl.apikey'),
            table='bnpl_idempotencyrecord', index='bnpl_idempotencyrecord_api_key_id_c0b22994'),
    ]
