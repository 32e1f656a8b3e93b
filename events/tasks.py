"""Thin tasks over the events services; any of them may run any number of times, concurrently."""
from celery import shared_task

from events import services


@shared_task(name="events.tasks.pump", acks_late=False, ignore_result=True)
def pump(budget_seconds: float = 20.0) -> dict:
    """Dispatch new events and deliver what is due. Nudged on commit and run by beat: the rows,
    not this message, are what is durable (a lost or killed run is simply run again)."""
    return services.events_pump(budget_seconds=budget_seconds)


@shared_task(name="events.tasks.prune", ignore_result=True)
def prune() -> dict:
    return services.events_prune()
