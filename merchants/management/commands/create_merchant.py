from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from merchants.services import merchant_create


class Command(BaseCommand):
    help = "Create a merchant; prints its id and webhook secret (shown only now)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        merchant = merchant_create(name=name)
        self.stdout.write(f"id: {merchant.id}")
        self.stdout.write(f"webhook_secret: {merchant.webhook_secret}")
