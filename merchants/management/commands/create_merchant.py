from django.core.management.base import BaseCommand

from merchants.services import merchant_create


class Command(BaseCommand):
    help = "Create a merchant; prints its id and webhook secret (shown only now)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)

    def handle(self, *args, name, **options):
        merchant = merchant_create(name=name)
        self.stdout.write(f"id: {merchant.id}")
        self.stdout.write(f"webhook_secret: {merchant.webhook_secret}")
