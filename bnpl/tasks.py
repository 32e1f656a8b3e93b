from celery import shared_task

from bnpl.idempotency import purge_expired


@shared_task(name="bnpl.tasks.purge_expired_idempotency_records")
def purge_expired_idempotency_records() -> int:
    return purge_expired()
