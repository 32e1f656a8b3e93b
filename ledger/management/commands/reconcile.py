import json
import sys

from django.core.management.base import BaseCommand

from bnpl.actor import SYSTEM, acting_as
from ledger.reconcile import reconcile


class Command(BaseCommand):
    help = ("Check that every journal transaction balances and every stored plan and installment amount "
            "equals the journal. Prints one JSON line; exits 1 on any mismatch.")

    def handle(self, *args, **options):
        with acting_as(SYSTEM, "reconcile"):
            result = reconcile()
        self.stdout.write(json.dumps({k: result[k] for k in (
            "plans_checked", "installments_checked", "transactions_checked", "mismatch_count", "mismatches",
            "duration_ms")}))
        if result["mismatch_count"]:
            sys.exit(1)
