from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bnpl.models import ApiKey
from bnpl.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its id; it gets 401 from then on."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key_id")

    def handle(self, *args: Any, key_id: str, **options: Any) -> None:
        try:
            api_key = ApiKey.objects.get(pk=key_id)
        except (ApiKey.DoesNotExist, ValidationError, ValueError) as exc:  # ValidationError: not a UUID
            raise CommandError(f"no API key with id {key_id}") from exc
        api_key_revoke(api_key=api_key)
        self.stdout.write(f"revoked {api_key.id}")
