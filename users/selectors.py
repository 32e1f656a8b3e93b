"""Reads of customers: masks only, the encrypted columns are never loaded."""
from django.db.models import F, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from bnpl.crypto import lookup_hash
from bnpl.money import MoneyModelField
from users.models import Customer


def user_queryset() -> QuerySet[Customer]:
    return Customer.objects.defer(*Customer.ENCRYPTED_FIELDS)


def with_phone(*, queryset: QuerySet[Customer], e164: str) -> QuerySet[Customer]:
    """Exact phone match through the keyed hash (never plaintext)."""
    return queryset.filter(phone_hash=lookup_hash(e164))


def with_credit(*, queryset: QuerySet[Customer]) -> QuerySet[Customer]:
    """Annotates ``outstanding_amount`` (what the user owes on all its installments) for
    ``Customer.available_credit``. Settled installments owe 0, and only confirmed plans have
    installments, so a plain sum is the rule. Reached through the reverse relation: this
    layer imports nothing from the plans above it."""
    owed = (F("installments__amount") + F("installments__fee_amount") - F("installments__fee_waived_amount")
            - F("installments__paid_amount") - F("installments__refunded_amount"))
    return queryset.annotate(outstanding_amount=Coalesce(Sum(owed), Value(0), output_field=MoneyModelField()))
