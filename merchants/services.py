"""The only writers of merchants."""
from django.db import transaction
from django.utils import timezone

from merchants.models import Merchant, generate_webhook_secret


def merchant_create(*, name: str) -> Merchant:
    return Merchant.objects.create(name=name, webhook_secret=generate_webhook_secret())


@transaction.atomic
def merchant_rotate_secret(*, merchant: Merchant) -> Merchant:
    """A new secret, in force at once: the old one stops verifying webhooks immediately."""
    merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
    merchant.webhook_secret = generate_webhook_secret()
    merchant.secret_rotated_at = timezone.now()
    merchant.save(update_fields=["webhook_secret", "secret_rotated_at"])
    return merchant
