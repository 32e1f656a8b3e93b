"""Reads of customers: masks only, the encrypted columns are never loaded."""
from django.db.models import QuerySet

from bnpl.crypto import lookup_hash
from users.models import Customer


def user_queryset() -> QuerySet[Customer]:
    return Customer.objects.defer(*Customer.ENCRYPTED_FIELDS)


def with_phone(queryset: QuerySet[Customer], e164: str) -> QuerySet[Customer]:
    """Exact phone match through the keyed hash (never plaintext)."""
    return queryset.filter(phone_hash=lookup_hash(e164))

