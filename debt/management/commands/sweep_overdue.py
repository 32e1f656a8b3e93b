import json
from datetime import date

from django.core.management.base import BaseCommand

from bnpl.actor import SYSTEM, acting_as
from debt.services import sweep_overdue


class Command(BaseCommand):
    help = "Run the overdue sweep once and print one JSON line of counts and duration."

    def add_arguments(self, parser):
        parser.add_argument("--today", type=str, default=None,
                            help="Business date YYYY-MM-DD to sweep as of (default: today in BNPL_TIME_ZONE).")

    def handle(self, *args, today=None, **options):
        with acting_as(SYSTEM, "sweep"):
            result = sweep_overdue(today=date.fromisoformat(today) if today else None)
        self.stdout.write(json.dumps(result, sort_keys=True))
