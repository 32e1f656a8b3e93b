"""Money: ``Decimal`` end to end, two places, never a float.

Request amounts arrive as strings or JSON numbers; :class:`bnpl.parsers.DecimalJSONParser`
turns JSON numbers into ``Decimal`` before anything sees them.
"""
import re
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from django.conf import settings
from django.db import models
from rest_framework import serializers

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal(10) ** 12  # exclusive upper bound of any amount in a request
MONEY_DIGITS = 14  # 12 integer digits + 2 places


def cents(value: Decimal) -> Decimal:
    """``value`` quantized to the cent, rounding toward zero (never invents money)."""
    return value.quantize(CENT, rounding=ROUND_DOWN)


def format_money(value: Decimal) -> str:
    """The wire form: a string with exactly two places (``"1000.00"``)."""
    return f"{value.quantize(CENT):f}"


def currency() -> str:
    return settings.BNPL_CURRENCY


class MoneyModelField(models.DecimalField):
    """``DecimalField(max_digits=14, decimal_places=2)``: every amount column in the schema."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MONEY_DIGITS)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs


_PLAIN_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


class MoneyField(serializers.Field):
    """A request amount (string or JSON number; > 0, at most 2 places, < 10^12) and a response amount."""

    default_error_messages = {
        "invalid": "Must be a decimal amount such as \"100.00\".",
        "positive": "Must be greater than 0.",
        "max_places": "Must have at most 2 decimal places.",
        "max_value": "Must be less than 1000000000000.",
    }

    def to_internal_value(self, data) -> Decimal:
        # bool is an int subclass and float would already have lost precision: both refused.
        if isinstance(data, bool) or isinstance(data, float) or not isinstance(data, (str, int, Decimal)):
            self.fail("invalid")
        if isinstance(data, str):
            data = data.strip()
            if not _PLAIN_DECIMAL.match(data):
                self.fail("invalid")  # no exponent or plus sign in a string amount
        try:
            value = Decimal(data)
        except (InvalidOperation, ValueError):
            self.fail("invalid")
        if not value.is_finite():
            self.fail("invalid")
        if value <= 0:
            self.fail("positive")
        if value >= MAX_AMOUNT:
            self.fail("max_value")
        # The places as written: "1.000" and 1.000 have three, even though they equal 1.00.
        if value.as_tuple().exponent < -2:
            self.fail("max_places")
        return value.quantize(CENT)

    def to_representation(self, value: Decimal) -> str:
        return format_money(value)
