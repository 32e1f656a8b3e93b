"""Until the integer-minor-units money API is merged: render ``int`` minor units. (Removed then.)"""
from decimal import Decimal

from rest_framework import serializers

from bnpl.money import currency  # noqa: F401 - re-exported

EXPONENT = 2


def format_minor(minor: int) -> str:
    return f"{(Decimal(minor) / (10 ** EXPONENT)).quantize(Decimal(1).scaleb(-EXPONENT)):f}"


def to_minor(value: Decimal) -> int:
    return int(value * (10 ** EXPONENT))


class MinorMoneyField(serializers.Field):
    def to_representation(self, value: int) -> str:
        return format_minor(value)
