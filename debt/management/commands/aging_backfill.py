import json

from django.core.management.base import BaseCommand

from debt.services import aging_snapshots_backfill


class Command(BaseCommand):
    help = ("Write the daily aging snapshots missing for the last N days from the journal (the dashboard's "
            "30-day line); days a sweep already recorded are kept.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30, help="how many days before today (default 30)")

    def handle(self, *args, days: int, **options):
        written = aging_snapshots_backfill(days=max(0, min(days, 3660)))
        self.stdout.write(json.dumps({"written": [day.isoformat() for day in written]}))
