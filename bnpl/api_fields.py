"""Serializer fields shared by the apps' APIs: money on the wire and the currency it is in."""
import re
from decimal import Decimal, InvalidOperation

from rest_framework import serializers

from bnpl.money import MAX_AMOUNT, currency, exponent, format_minor, to_minor

_PLAIN_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


class MoneyField(serializers.Field):
    """A request amount (string or JSON number; > 0, at most ``exponent()`` places, < 10^12) parsed
    into ``int`` minor units, and ``int`` minor units rendered as the wire string.

    Request amounts arrive as strings or JSON numbers; :class:`bnpl.parsers.DecimalJSONParser`
    turns JSON numbers into ``Decimal`` before anything sees them, so no float is ever involved.
    """

    default_error_messages = {
        "invalid": "Must be a decimal amount such as \"100.00\".",
        "positive": "Must be greater than 0.",
        "max_places": "Must have at most {places} decimal places.",
        "max_value": f"Must be less than {MAX_AMOUNT}.",
    }

    def to_internal_value(self, data) -> int:
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
        places = exponent()
        written = value.as_tuple().exponent  # an int: the value is finite (checked above)
        if isinstance(written, int) and written < -places:
            self.fail("max_places", places=places)
        return to_minor(value)

    def to_representation(self, value: int) -> str:
        return format_minor(value)


class CurrencyField(serializers.ReadOnlyField):
    """``currency`` on every money-bearing resource: the deployment's ``BNPL_CURRENCY``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("source", "*")
        kwargs.setdefault("help_text", "ISO 4217 code of the deployment's one currency (BNPL_CURRENCY).")
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return currency()
