"""``manage.py sign_webhook``: the ``webhook-signature`` a merchant would send, from the project's own code.

For trying the merchant webhook by hand (``seed_demo``'s walkthrough uses it)::

    manage.py sign_webhook --secret whsec_... --id msg_1 --timestamp $(date +%s) --body '{"type": ...}'
"""
import time

from django.core.management.base import BaseCommand

from webhooks.signature import sign


class Command(BaseCommand):
    help = "Print the Standard Webhooks signature (v1,<base64>) of one merchant webhook."

    def add_arguments(self, parser):
        parser.add_argument("--secret", required=True, help="the merchant's whsec_ secret")
        parser.add_argument("--id", required=True, help="the webhook-id header")
        parser.add_argument("--timestamp", type=int, default=None, help="the webhook-timestamp header (default now)")
        parser.add_argument("--body", required=True, help="the exact raw body that will be sent")

    def handle(self, *args, secret: str, id: str, timestamp: int | None, body: str, **options):  # noqa: A002
        timestamp = int(time.time()) if timestamp is None else timestamp
        self.stdout.write(sign(secret=secret, msg_id=id, timestamp=timestamp, body=body.encode()))
