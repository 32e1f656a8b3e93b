"""Platform rows: API keys (hash only) and idempotency records."""
import hashlib
import secrets
import uuid

from django.db import models

from bnpl.crypto import EncryptedTextField
from bnpl.modelbase import Model
from bnpl.money import MoneyModelField


class Role(models.TextChoices):
    CLIENT = "client", "Client app"
    MERCHANT = "merchant", "Merchant"
    OPERATOR = "operator", "Operator"


def hash_api_key(raw_key: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough (no password KDF needed).
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(Model):
    """A caller of ``/api/v1/``. Only the SHA-256 of the raw key is kept."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=Role.choices)
    merchant = models.ForeignKey("merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="api_keys")
    prefix = models.CharField(max_length=16, help_text="First characters of the key, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(role="merchant", merchant__isnull=False)
                           | (~models.Q(role="merchant") & models.Q(merchant__isnull=True))),
                name="api_key_merchant_iff_merchant_role",
            ),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="api_key_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.role}, {self.prefix}…)"

    # DRF's IsAuthenticated-style checks read this off ``request.user``.
    is_authenticated = True

    @staticmethod
    def generate_raw_key() -> str:
        return "bnpl_" + secrets.token_urlsafe(32)


class IdempotencyRecord(Model):
    """The stored first response of an ``Idempotency-Key``, committed with the request's effect."""

    # db_index=False: idempotency_key_per_api_key leads with it. An index of its own would repeat
    # that and cost every write (bnpl/tests/test_indexes.py), as on other foreign keys of the apps.
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    response_status = models.PositiveSmallIntegerField()
    # Encrypted: a stored response may carry a secret shown once (merchant creation, rotation).
    response_body = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_per_api_key")]


class OperatorAdjustment(Model):
    """An amount an operator took back or let go, with the reason and the key that did it: the
    source row of a journal transaction (a repayment reversal, a late-fee waiver). Each concrete
    model adds what it adjusts and its own constraints."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    amount = MoneyModelField()
    reason = models.CharField(max_length=500)
    created_by = models.ForeignKey("bnpl.ApiKey", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
