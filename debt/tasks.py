from celery import shared_task

from bnpl.actor import SYSTEM, acting_as
from debt import services


@shared_task(name="debt.tasks.sweep_overdue")
def sweep_overdue() -> dict:
    """Beat runs this every BNPL_OVERDUE_SWEEP_SECONDS; safe to run twice (the second one skips)."""
    with acting_as(SYSTEM, "sweep"):
        return services.sweep_overdue()
