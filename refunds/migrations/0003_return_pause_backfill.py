"""Returns pause collection (API.md §13): plans that already have a PENDING refund get their pause.

The pause ends BNPL_RETURN_PAUSE_DAYS after the business day of the plan's latest PENDING refund;
the next sweep (or debt check) applies the rule, setting back to UPCOMING what the pause covers.
One UPDATE per plan with a pending refund (few), none per installment.
"""
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import migrations
from django.db.models import Max


def pause_backfill(apps, schema_editor):
    Refund = apps.get_model("refunds", "Refund")
    Installment = apps.get_model("plans", "Installment")
    zone = ZoneInfo(settings.BNPL_TIME_ZONE)
    latest = (Refund.objects.filter(status="PENDING").values("plan_id").annotate(latest=Max("created_at"))
              .values_list("plan_id", "latest"))
    for plan_id, created_at in latest.iterator():
        until = created_at.astimezone(zone).date() + timedelta(days=settings.BNPL_RETURN_PAUSE_DAYS)
        Installment.objects.filter(plan_id=plan_id).update(collection_paused_until=until)


class Migration(migrations.Migration):

    dependencies = [
        ("refunds", "0002_amounts_in_minor_units"),
        ("plans", "0007_delinquency"),
    ]

    operations = [
        migrations.RunPython(pause_backfill, migrations.RunPython.noop, elidable=True),
    ]
