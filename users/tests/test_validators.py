"""Normalisation of personal data: E.164, passport, Luhn card, age."""
from datetime import date

import pytest
from rest_framework.exceptions import ValidationError

from users.validators import age_on, luhn_valid, normalize_card, normalize_passport, normalize_phone


@pytest.mark.parametrize("phone", ["+998901234567", "+12025550123", "+447911123456", "+4915112345678"])
def test_valid_e164(phone):
    assert normalize_phone(phone) == phone


@pytest.mark.parametrize("phone", [
    "998901234567",        # no plus
    "+998 90 123 45 67",   # not E.164 form
    "+998-90-123-45-67",
    "+99890123456",        # too short for Uzbekistan
    "+9989012345678",      # too long
    "+0001234567",
    "+",
    "",
    "+99890123456a",
    "00998901234567",
    "+1 (202) 555-0123",
])
def test_invalid_phone(phone):
    with pytest.raises(ValidationError) as info:
        normalize_phone(phone)
    assert info.value.get_codes() == ["invalid_phone"]


@pytest.mark.parametrize(("raw", "normalized"), [
    ("AA1234567", "AA1234567"), ("aa1234567", "AA1234567"), ("ab123", "AB123"), ("12345", "12345"),
    ("A" * 20, "A" * 20),
])
def test_valid_passport_is_upper_cased(raw, normalized):
    assert normalize_passport(raw) == normalized


@pytest.mark.parametrize("raw", ["AB12", "A" * 21, "AA 1234567", "AA-1234567", "AA12345É", "", "АА1234567"])
def test_invalid_passport(raw):
    with pytest.raises(ValidationError) as info:
        normalize_passport(raw)
    assert info.value.get_codes() == ["invalid_passport"]


@pytest.mark.parametrize(("raw", "digits"), [
    ("4111111111111111", "4111111111111111"),
    ("4111 1111 1111 1111", "4111111111111111"),
    ("4111-1111-1111-1111", "4111111111111111"),
    ("5500 0055-5555 5559", "5500005555555559"),
    ("378282246310005", "378282246310005"),      # 15 digits (Amex)
    ("123456789015", "123456789015"),            # 12 digits, Luhn-valid
    ("6011111111111117", "6011111111111117"),
    ("4222222222222222224", "4222222222222222224"),  # 19 digits
])
def test_valid_cards(raw, digits):
    assert luhn_valid(digits)
    assert normalize_card(raw) == digits


@pytest.mark.parametrize("raw", [
    "4111111111111112",     # Luhn fails
    "4111 1111 1111 111",   # 15 digits, Luhn fails
    "12345678901",          # 11 digits
    "42222222222222222220",  # 20 digits
    "4111_1111_1111_1111",
    "4111.1111.1111.1111",
    "4111x111111111111",
    "",
    "٤١١١١١١١١١١١١١١١",    # non-ASCII digits
])
def test_invalid_cards(raw):
    with pytest.raises(ValidationError) as info:
        normalize_card(raw)
    assert info.value.get_codes() == ["invalid_card"]


@pytest.mark.parametrize(("born", "today", "age"), [
    (date(2008, 3, 10), date(2026, 3, 10), 18),
    (date(2008, 3, 11), date(2026, 3, 10), 17),
    (date(2008, 2, 29), date(2026, 2, 28), 17),
    (date(2008, 2, 29), date(2026, 3, 1), 18),
    (date(1990, 12, 31), date(2026, 1, 1), 35),
])
def test_age_on(born, today, age):
    assert age_on(born, today) == age
