"""Demo customers whose debt is spread over every aging bucket, for the dashboard's charts.

Everything goes through the services: back-dated plans (started 1 to 8 months ago, so their
installments fell due on many days), a few partial repayments, one sweep (today's snapshot) and
the snapshots of the last 30 days rebuilt from the journal. Re-running reuses the customers.
"""
import json
import random
from datetime import date, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bnpl.crypto import lookup_hash
from bnpl.dates import business_today
from debt.services import aging_snapshots_backfill, repayment_apply, sweep_overdue
from merchants.models import Merchant
from merchants.services import merchant_create
from plans.services import plan_create
from users.models import Customer
from users.services import user_create

MERCHANT_NAME = "Demo Furniture"


class Command(BaseCommand):
    help = "Create customers with overdue installments in every aging bucket, sweep, and backfill 30 days of snapshots."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=36)
        parser.add_argument("--allow-production", action="store_true")

    def handle(self, *args, customers: int, allow_production: bool, **options):
        if settings.SETTINGS_MODULE.endswith(".production") and not allow_production:
            raise CommandError("refusing to seed demo data with production settings (--allow-production)")
        rng = random.Random(20260601)  # noqa: S311 - demo data, not security
        today = business_today()
        merchant = (Merchant.objects.filter(name=MERCHANT_NAME).first() or merchant_create(name=MERCHANT_NAME))
        created = 0
        for n in range(1, min(customers, 9999) + 1):
            passport = f"DA{n:07d}"
            if Customer.objects.filter(passport_hash=lookup_hash(passport)).exists():
                continue
            user = user_create(full_name=f"Aging Demo {n}", phone_number=f"+99890333{n:04d}",
                               passport_number=passport, date_of_birth=date(1980, 1, 1) + timedelta(days=97 * n))
            # Started 10 to 240 days ago: the first installment a month later, so 0 to ~210 days past due.
            start = today - timedelta(days=rng.randint(10, 240))
            total = rng.choice((300_000, 450_000, 900_000, 1_200_000, 2_400_000, 3_600_000)) * 100
            result = plan_create(user=user, merchant=merchant, total_amount=total,
                                 installment_count=rng.choice((3, 4, 6)), start_date=start, bound_backdating=False)
            if result.refusal is not None:
                raise CommandError(f"Could not open a demo plan: {result.refusal.detail}")
            if rng.random() < 0.3:
                repayment_apply(user=user, amount=total // 10)
            created += 1
        sweep = sweep_overdue()
        backfilled = aging_snapshots_backfill(days=29)
        self.stdout.write(json.dumps({"customers_created": created, "sweep": sweep,
                                      "snapshots_backfilled": len(backfilled)}, default=str))
