"""``manage.py embedded_beat``: Celery beat's schedule run in this process, for the embedded mode.

With ``REDIS_URL`` unset there is no broker and no beat (tasks run in-process), so
``make run`` starts this instead: the entries of ``CELERY_BEAT_SCHEDULE`` (the overdue sweep,
the webhook re-drive, the idempotency clean-up) run here on their intervals, and those named
in ``BNPL_BEAT_AT_START`` once at start, exactly as the real beat does. SIGTERM or SIGINT stops
it between runs, at once.
"""
import logging
import signal
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

logger = logging.getLogger("ops.embedded_beat")


def _interval(schedule) -> float | None:
    if isinstance(schedule, int | float):
        return float(schedule)
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    run_every = getattr(schedule, "run_every", None)  # celery.schedules.schedule
    return run_every.total_seconds() if isinstance(run_every, timedelta) else None


class Command(BaseCommand):
    help = "Run Celery beat's schedule in this process (embedded mode, no broker)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run the at-start entries and exit")

    def handle(self, *args, once: bool, **options):
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("REDIS_URL is set: run the real `celery -A bnpl beat` (and a worker) instead")
        from bnpl.celery import app

        app.autodiscover_tasks(force=True)  # a worker does this as it starts; here nothing else would
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())

        now = time.monotonic()
        due: dict[str, float] = {}
        every: dict[str, float] = {}
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
            interval = _interval(entry["schedule"])
            if interval is None:
                logger.warning("embedded beat: %s has a schedule it cannot run; skipped", name)
                continue
            every[name] = interval
            due[name] = now if name in settings.BNPL_BEAT_AT_START else now + interval
        if once:
            due = {name: at for name, at in due.items() if at <= now}
        while due and not stop.is_set():
            name = min(due, key=due.__getitem__)
            if stop.wait(max(0.0, due[name] - time.monotonic())):
                break
            task = settings.CELERY_BEAT_SCHEDULE[name]["task"]
            close_old_connections()
            try:
                result = app.tasks[task].apply().get(propagate=True)
                logger.info("embedded beat ran %s", name, extra={"task": task, "result": str(result)[:200]})
            except Exception as exc:  # noqa: BLE001 - one failed run must not stop the schedule
                logger.warning("embedded beat: %s failed: %s", name, type(exc).__name__)
            if once:
                del due[name]
            else:
                due[name] = time.monotonic() + every[name]
