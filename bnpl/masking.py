"""Masks applied to personal data wherever it leaves the service (API, admin, logs)."""
from datetime import date


def mask_phone(e164: str) -> str:
    """``+998901234567`` -> ``+998****4567`` (first 4 characters, ``****``, last 4)."""
    return f"{e164[:4]}****{e164[-4:]}"


def mask_passport(passport: str) -> str:
    """``AA1234567`` -> ``AA*******`` (first 2, one ``*`` per remaining character)."""
    return passport[:2] + "*" * (len(passport) - 2)


def mask_card(digits: str | None) -> str | None:
    """``4111111111111111`` -> ``4111 **** **** 1111``; ``None`` stays ``None``."""
    if not digits:
        return None
    return f"{digits[:4]} **** **** {digits[-4:]}"


def mask_date_of_birth(value: date) -> str:
    """``1990-05-17`` -> ``1990-**-**``."""
    return f"{value.year:04d}-**-**"
