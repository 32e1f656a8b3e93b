"""Deliver outbound events by hand, or in a loop where there is no Celery beat (the embedded mode)."""
import json
import time

from django.core.management.base import BaseCommand

from events import services


class Command(BaseCommand):
    help = "Dispatch pending events and deliver due webhook attempts; --loop repeats every --interval seconds."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--interval", type=float, default=2.0)

    def handle(self, *args, loop: bool, interval: float, **options):
        while True:
            self.stdout.write(json.dumps(services.events_pump()))
            if not loop:
                return
            time.sleep(interval)
