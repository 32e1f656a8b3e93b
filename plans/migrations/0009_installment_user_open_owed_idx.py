"""A user's open installments carry their amounts in the index: what a user owes is summed from the
index alone (``users.selectors.with_credit``). Built beside the old index, then the old one dropped
(``bnpl.index_migration.index_replaced``)."""
from django.db import migrations, models

from bnpl.index_migration import index_replaced


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY (bnpl.index_migration)

    dependencies = [
        ('plans', '0008_foreign_key_indexes_led_by_others'),
    ]

    operations = [
        index_replaced(
            'plans.Installment',
            old=models.Index(condition=models.Q(('status__in', ('UPCOMING', 'OVERDUE'))), fields=['user', 'due_date'],
                             name='installment_user_open_idx'),
            new=models.Index(condition=models.Q(('status__in', ('UPCOMING', 'OVERDUE'))), fields=['user', 'due_date'],
                             include=['amount', 'fee_amount', 'fee_waived_amount', 'paid_amount', 'refunded_amount'],
                             name='installment_user_open_owed_idx'),
        ),
    ]
