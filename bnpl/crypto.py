"""Field encryption (Fernet, with rotation) and keyed lookup hashes for personal data.

``BNPL_FIELD_ENCRYPTION_KEYS`` lists Fernet keys newest first: the first encrypts,
all decrypt (``MultiFernet``). ``BNPL_LOOKUP_HASH_KEY`` keys an HMAC-SHA256 used
for equality lookups (phone, passport); it stays fixed when encryption keys rotate.
"""
import hashlib
import hmac
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key (never carries the value)."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("BNPL_FIELD_ENCRYPTION_KEYS is empty")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.BNPL_FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("stored value cannot be decrypted with the configured keys") from None


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the newest key (what ``rotate_field_keys`` does to every row)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("stored value cannot be decrypted with the configured keys") from None


def lookup_hash(value: str) -> str:
    """HMAC-SHA256 of a normalized value, hex: equality lookups without plaintext."""
    key = settings.BNPL_LOOKUP_HASH_KEY
    if not key:
        raise ImproperlyConfigured("BNPL_LOOKUP_HASH_KEY is empty")
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token; the Python value is the plaintext.

    Only services read the plaintext; serializers and the admin show the masks.
    """

    def from_db_value(self, value: str | None, expression: object, connection: object) -> str | None:
        return None if value is None else decrypt(value)

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        return None if value is None else encrypt(value)
