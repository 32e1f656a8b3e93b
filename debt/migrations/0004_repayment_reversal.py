"""Repayment reversals (API.md §11): ``Repayment.reversed_at`` and one ``RepaymentReversal`` per reversal."""
import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("bnpl", "0001_initial"),
        ("debt", "0003_overdue_rule_both_ways"),
        ("users", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="repayment",
            name="reversed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="RepaymentReversal",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("amount", models.BigIntegerField(help_text="Integer minor units of BNPL_CURRENCY.")),
                ("reason", models.CharField(max_length=500)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("created_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                                 related_name="+", to="bnpl.apikey")),
                ("repayment", models.OneToOneField(on_delete=django.db.models.deletion.PROTECT,
                                                   related_name="reversal", to="debt.repayment")),
                ("user", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                           to="users.customer")),
            ],
            options={
                "constraints": [models.CheckConstraint(condition=models.Q(("amount__gt", 0)),
                                                       name="reversal_amount_positive")],
            },
        ),
    ]
