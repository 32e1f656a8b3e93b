"""Amounts become integer minor units (issue 10): exact sums and CHECKs on every database."""
from django.db import migrations, models

from bnpl.money_migration import to_minor_units

_HELP = "Integer minor units of BNPL_CURRENCY."


class Migration(migrations.Migration):

    dependencies = [
        ("refunds", "0001_initial"),
    ]

    operations = [
        to_minor_units({"refunds_refund": ["amount", "applied_amount", "payout_amount"]}),
        migrations.AlterField(model_name="refund", name="amount", field=models.BigIntegerField(help_text=_HELP)),
        migrations.AlterField(model_name="refund", name="applied_amount",
                              field=models.BigIntegerField(blank=True, help_text=_HELP, null=True)),
        migrations.AlterField(model_name="refund", name="payout_amount",
                              field=models.BigIntegerField(blank=True, help_text=_HELP, null=True)),
    ]
