"""Normalisation and validation of personal data. Messages never echo the value."""
import re
from datetime import date

import phonenumbers
from rest_framework.exceptions import ValidationError

_PASSPORT = re.compile(r"^[A-Za-z0-9]{5,20}$")
_CARD_SEPARATORS = re.compile(r"[ \-]")


def normalize_phone(raw: str) -> str:
    """E.164 (``+998901234567``) or ValidationError."""
    if not isinstance(raw, str) or not raw.startswith("+"):
        raise ValidationError("Must be an E.164 phone number such as +998901234567.", code="invalid_phone")
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise ValidationError("Must be an E.164 phone number such as +998901234567.",
                              code="invalid_phone") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Not a valid phone number.", code="invalid_phone")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if e164 != raw:
        raise ValidationError("Must be in E.164 form: + and digits only.", code="invalid_phone")
    return e164


def normalize_passport(raw: str) -> str:
    if not isinstance(raw, str) or not _PASSPORT.match(raw):
        raise ValidationError("Must be 5 to 20 letters or digits.", code="invalid_passport")
    return raw.upper()


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, ch in enumerate(reversed(digits)):
        n = int(ch)
        if index % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def normalize_card(raw: str) -> str:
    """12-19 digits (spaces and dashes allowed), Luhn-valid; returns the digits."""
    digits = _CARD_SEPARATORS.sub("", raw) if isinstance(raw, str) else ""
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not digits.isascii():
        raise ValidationError("Must be 12 to 19 digits (spaces and dashes allowed).", code="invalid_card")
    if not luhn_valid(digits):
        raise ValidationError("Card number fails the Luhn check.", code="invalid_card")
    return digits


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
