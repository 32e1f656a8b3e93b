from django.core.management.base import BaseCommand, CommandError

from bnpl.models import ApiKey
from bnpl.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its id; it gets 401 from then on."

    def add_arguments(self, parser):
        parser.add_argument("key_id")

    def handle(self, *args, key_id, **options):
        try:
            api_key = ApiKey.objects.get(pk=key_id)
        except Exception as exc:  # noqa: BLE001 - DoesNotExist or a malformed UUID
            raise CommandError(f"no API key with id {key_id}") from exc
        api_key_revoke(api_key=api_key)
        self.stdout.write(f"revoked {api_key.id}")
