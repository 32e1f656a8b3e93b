"""``manage.py create_api_key``: an API key of any role, scoped to a merchant for the merchant role.

It lives in the merchants app, not in bnpl, because it resolves ``--merchant``: the platform
layer imports no domain app (docs/ARCHITECTURE.md).
"""
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bnpl.models import Role
from bnpl.services import api_key_create
from merchants.models import Merchant


class Command(BaseCommand):
    help = "Create an API key and print the raw key once (the last line of stdout is the key alone)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--name", required=True)
        parser.add_argument("--merchant", help="merchant id (required for --role merchant)")

    def handle(self, *args: Any, role: str, name: str, merchant: str | None, **options: Any) -> None:
        merchant_obj = None
        if merchant:
            try:
                merchant_obj = Merchant.objects.get(pk=merchant)
            except (Merchant.DoesNotExist, ValidationError, ValueError) as exc:  # ValidationError: not a UUID
                raise CommandError(f"no merchant with id {merchant}") from exc
        try:
            api_key, raw = api_key_create(role=role, name=name, merchant=merchant_obj)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"Created {role} key {api_key.id} ({name}). Store it now: it is not shown again.")
        self.stdout.write(raw)
