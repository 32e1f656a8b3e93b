"""Masks exactly as API.md §4."""
from datetime import date

import pytest

from bnpl.masking import mask_card, mask_date_of_birth, mask_passport, mask_phone


@pytest.mark.parametrize(("phone", "mask"), [
    ("+998901234567", "+998****4567"),
    ("+12025550123", "+120****0123"),
    ("+447911123456", "+447****3456"),
])
def test_phone_first_four_stars_last_four(phone, mask):
    assert mask_phone(phone) == mask


@pytest.mark.parametrize(("passport", "mask"), [
    ("AA1234567", "AA*******"), ("AB123", "AB***"), ("X1234567890123456789", "X1" + "*" * 18),
])
def test_passport_first_two_then_one_star_per_character(passport, mask):
    assert mask_passport(passport) == mask
    assert len(mask_passport(passport)) == len(passport)


@pytest.mark.parametrize(("card", "mask"), [
    ("4111111111111111", "4111 **** **** 1111"),
    ("5500005555555559", "5500 **** **** 5559"),
    ("378282246310005", "3782 **** **** 0005"),
    ("123456789012", "1234 **** **** 9012"),
])
def test_card_first_four_fixed_stars_last_four(card, mask):
    assert mask_card(card) == mask


@pytest.mark.parametrize("card", [None, ""])
def test_no_card_is_null(card):
    assert mask_card(card) is None


@pytest.mark.parametrize(("born", "mask"), [(date(1990, 5, 17), "1990-**-**"), (date(2001, 12, 1), "2001-**-**")])
def test_date_of_birth_year_only(born, mask):
    assert mask_date_of_birth(born) == mask
