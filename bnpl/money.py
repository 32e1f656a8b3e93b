"""Money: integer minor units inside, ``Decimal`` only at the edges, never a float.

Every amount column is a :class:`MoneyModelField` (a 64-bit integer of minor units), and in
Python an amount between the edges is an ``int`` of minor units, so every sum, comparison and
``CHECK`` constraint is exact on every database (SQLite keeps ``DECIMAL`` as binary floating
point). The places come from the ISO 4217 minor unit of ``BNPL_CURRENCY``: 2 for UZS, 0 for JPY
(``"1000"``), 3 for KWD (``"1.250"``). This module is the only place that scales by a power of
ten; the request field that parses amounts is :class:`bnpl.api_fields.MoneyField`.
"""
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver

# ISO 4217 minor units (the exponent), for the active codes a deployment can plausibly use.
# A code missing here refuses to start rather than be guessed at.
ISO_4217_EXPONENTS: dict[str, int] = {
    # 0 places
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # 3 places
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # 4 places
    "CLF": 4, "UYW": 4,
    # 2 places
    **dict.fromkeys((
        "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BMD",
        "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY", "COP", "CRC",
        "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL",
        "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD",
        "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA",
        "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO",
        "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR",
        "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL",
        "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UYU", "UZS", "VES", "WST",
        "XCD", "YER", "ZAR", "ZMW", "ZWG",
    ), 2),
}

# The exclusive upper bound of a request amount, in major units (API.md §0: below 10^12).
MAX_AMOUNT = 10 ** 12


def currency() -> str:
    return settings.BNPL_CURRENCY


# The exponent of BNPL_CURRENCY once read: every amount of every response is formatted with it,
# and reading a setting costs a call of Django's LazySettings. Emptied when the setting changes.
_EXPONENT: list[int] = []


@receiver(setting_changed)
def _currency_changed(*, setting: str, **kwargs) -> None:
    if setting == "BNPL_CURRENCY":
        _EXPONENT.clear()


def exponent() -> int:
    """The ISO 4217 minor unit of ``BNPL_CURRENCY`` (places after the decimal point)."""
    if _EXPONENT:
        return _EXPONENT[0]
    code = settings.BNPL_CURRENCY
    try:
        places = ISO_4217_EXPONENTS[code]
    except KeyError:
        raise ImproperlyConfigured(
            f"BNPL_CURRENCY={code!r} is not an ISO 4217 currency code this service knows.") from None
    _EXPONENT[:] = [places]
    return places


def max_minor() -> int:
    """The exclusive upper bound of a request amount, in minor units."""
    return MAX_AMOUNT * 10 ** exponent()


def to_minor(value: Decimal | int) -> int:
    """``value`` (major units) as an ``int`` of minor units, exactly; more places than the currency
    has is a ``ValueError`` (nothing is ever rounded away)."""
    scaled = Decimal(value).scaleb(exponent())
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more places than {currency()} allows ({exponent()})")
    return int(scaled)


def from_minor(minor: int) -> Decimal:
    """``minor`` units as a ``Decimal`` of major units with exactly ``exponent()`` places."""
    return Decimal(int(minor)).scaleb(-exponent())


def format_minor(minor: int) -> str:
    """The wire form: exactly ``exponent()`` places (``"1000.00"``, JPY ``"1000"``, KWD ``"1.250"``)."""
    places, units = exponent(), int(minor)
    if places == 0:
        return str(units)
    if not units:
        # The commonest amount by far (an installment's fees, refunds and payments until there are any).
        return "0." + "0" * places
    # The digits split at the point, the text of f"{from_minor(units):.{places}f}" (held equal in
    # test_money.py) at a sixth of its cost: every amount of every response goes through here.
    if units < 0:
        digits = str(-units).rjust(places + 1, "0")
        return f"-{digits[:-places]}.{digits[-places:]}"
    digits = str(units).rjust(places + 1, "0")
    return f"{digits[:-places]}.{digits[-places:]}"


def format_minor_sql(expression: str) -> str:
    """``format_minor`` in PostgreSQL, for an integer SQL ``expression`` of minor units: the same
    text (``"1000.00"``, JPY ``"1000"``), for event payloads the database builds set-based
    (``bnpl/tests/test_money.py`` holds the two equal)."""
    places = exponent()
    return f"(({expression})::numeric / {10 ** places})::numeric(38, {places})::text"


class MoneyModelField(models.BigIntegerField):
    """An amount column: a 64-bit integer of minor units (``from_minor`` gives the ``Decimal``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("help_text", "Integer minor units of BNPL_CURRENCY.")
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        # Migrations refer to the plain Django field, so they never depend on this module.
        name, path, args, kwargs = super().deconstruct()
        return name, "django.db.models.BigIntegerField", args, kwargs
