from celery import shared_task

from bnpl.actor import SYSTEM, acting_as
from ledger.reconcile import reconcile as reconcile_ledger


@shared_task(name="ledger.tasks.reconcile")
def reconcile() -> dict:
    """Beat runs this daily; the run is stored for the health page and /metrics."""
    with acting_as(SYSTEM, "reconcile"):
        result = reconcile_ledger()
    return {k: v for k, v in result.items() if k != "mismatches"}
