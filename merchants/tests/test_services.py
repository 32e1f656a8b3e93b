"""merchants.services and the webhook secret format."""
import base64

import pytest
from django.db import connection

from merchants.models import Merchant, generate_webhook_secret
from merchants.services import merchant_create, merchant_rotate_secret

pytestmark = pytest.mark.django_db


def assert_webhook_secret(secret: str) -> None:
    assert secret.startswith("whsec_")
    raw = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    assert len(raw) >= 24


def test_generated_secret_is_whsec_and_base64_of_enough_random_bytes():
    secrets = {generate_webhook_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert_webhook_secret(secret)


def test_create_stores_the_secret_encrypted():
    merchant = merchant_create(name="Shop")
    assert_webhook_secret(merchant.webhook_secret)
    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_secret FROM merchants_merchant WHERE id = %s", [merchant.id])
        (stored,) = cursor.fetchone()
    assert merchant.webhook_secret not in stored and not stored.startswith("whsec_")
    assert Merchant.objects.get(pk=merchant.pk).webhook_secret == merchant.webhook_secret


def test_rotation_replaces_the_secret_at_once():
    merchant = merchant_create(name="Shop")
    old = merchant.webhook_secret
    rotated = merchant_rotate_secret(merchant=merchant)
    assert rotated.webhook_secret != old
    assert_webhook_secret(rotated.webhook_secret)
    fresh = Merchant.objects.get(pk=merchant.pk)
    assert fresh.webhook_secret == rotated.webhook_secret and fresh.secret_rotated_at is not None
