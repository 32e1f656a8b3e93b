"""Beat: checkouts nobody confirmed in time become EXPIRED (reads already show it)."""
from celery import shared_task

from plans.services import plans_expire


@shared_task(name="plans.tasks.expire_pending_plans")
def expire_pending_plans() -> int:
    return plans_expire()
