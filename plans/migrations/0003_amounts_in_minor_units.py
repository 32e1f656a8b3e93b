"""Amounts become integer minor units (issue 10): exact sums and CHECKs on every database."""
from django.db import migrations, models

from bnpl.money_migration import to_minor_units

_HELP = "Integer minor units of BNPL_CURRENCY."


def _repair_sqlite(cursor):
    """Rows SQLite's float sums left inconsistent, made to follow the rules now that amounts are exact:
    an open installment with nothing outstanding is settled, and every plan's totals and status are
    its installments' again (a 100.01 plan in 12 whose installments were all PAID stayed ACTIVE)."""
    cursor.execute("""
        UPDATE plans_installment
           SET status = CASE WHEN paid_amount > 0 THEN 'PAID' ELSE 'CANCELLED' END
         WHERE status IN ('UPCOMING', 'OVERDUE') AND amount = paid_amount + refunded_amount""")
    cursor.execute("""
        UPDATE plans_plan
           SET paid_amount = COALESCE((SELECT SUM(i.paid_amount) FROM plans_installment AS i
                                        WHERE i.plan_id = plans_plan.id), 0),
               refunded_amount = COALESCE((SELECT SUM(i.refunded_amount) FROM plans_installment AS i
                                            WHERE i.plan_id = plans_plan.id), 0)""")
    cursor.execute("""
        UPDATE plans_plan
           SET status = CASE WHEN total_amount = paid_amount + refunded_amount THEN 'COMPLETED' ELSE 'ACTIVE' END
         WHERE status IN ('ACTIVE', 'COMPLETED')""")


class Migration(migrations.Migration):

    dependencies = [
        ("plans", "0002_upcoming_due_id_idx"),
    ]

    operations = [
        to_minor_units({"plans_plan": ["total_amount", "paid_amount", "refunded_amount"],
                        "plans_installment": ["amount", "paid_amount", "refunded_amount"]},
                       sqlite_repair=_repair_sqlite),
        migrations.AlterField(model_name="installment", name="amount",
                              field=models.BigIntegerField(help_text=_HELP)),
        migrations.AlterField(model_name="installment", name="paid_amount",
                              field=models.BigIntegerField(default=0, help_text=_HELP)),
        migrations.AlterField(model_name="installment", name="refunded_amount",
                              field=models.BigIntegerField(default=0, help_text=_HELP)),
        migrations.AlterField(model_name="plan", name="paid_amount",
                              field=models.BigIntegerField(default=0, help_text=_HELP)),
        migrations.AlterField(model_name="plan", name="refunded_amount",
                              field=models.BigIntegerField(default=0, help_text=_HELP)),
        migrations.AlterField(model_name="plan", name="total_amount",
                              field=models.BigIntegerField(help_text=_HELP)),
    ]
