import base64
import secrets
import uuid

from django.db import models

from bnpl.crypto import EncryptedTextField
from bnpl.modelbase import Model


def generate_webhook_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes (Standard Webhooks format)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Merchant(Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    webhook_secret = EncryptedTextField()
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["-created_at", "-id"], name="merchant_created_idx")]

    def __str__(self) -> str:
        return self.name
