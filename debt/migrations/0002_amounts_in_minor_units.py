"""Amounts become integer minor units (issue 10): exact sums and CHECKs on every database."""
from django.db import migrations, models

from bnpl.money_migration import to_minor_units

_HELP = "Integer minor units of BNPL_CURRENCY."


class Migration(migrations.Migration):

    dependencies = [
        ("debt", "0001_initial"),
    ]

    operations = [
        to_minor_units({"debt_repayment": ["amount"], "debt_repaymentallocation": ["amount"]}),
        migrations.AlterField(model_name="repayment", name="amount", field=models.BigIntegerField(help_text=_HELP)),
        migrations.AlterField(model_name="repaymentallocation", name="amount",
                              field=models.BigIntegerField(help_text=_HELP)),
    ]
