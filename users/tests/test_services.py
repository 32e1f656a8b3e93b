"""users.services: the only writers of customers."""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bnpl.crypto import lookup_hash
from bnpl.dates import business_today
from bnpl.errors import DuplicateUser, ValidationFailed
from bnpl.testing.concurrency import race
from users import services
from users.models import Customer, UserStatus

pytestmark = pytest.mark.django_db

PERSON = {"full_name": "Jane Roe", "phone_number": "+998917654321", "passport_number": "KZ9876543",
          "date_of_birth": date(1985, 11, 23), "card_number": "5500005555555559"}


def test_create_stores_hashes_masks_and_encrypted_values():
    user = services.user_create(**PERSON)
    fresh = Customer.objects.get(pk=user.pk)
    assert fresh.phone_hash == lookup_hash("+998917654321") and fresh.passport_hash == lookup_hash("KZ9876543")
    assert (fresh.phone_mask, fresh.passport_mask, fresh.card_mask, fresh.date_of_birth_mask) == (
        "+998****4321", "KZ*******", "5500 **** **** 5559", "1985-**-**")
    assert (fresh.phone_number, fresh.passport_number, fresh.card_number, fresh.date_of_birth) == (
        "+998917654321", "KZ9876543", "5500005555555559", "1985-11-23")
    assert fresh.status == UserStatus.NORMAL


def test_create_without_card():
    user = services.user_create(**{**PERSON, "card_number": None})
    assert Customer.objects.get(pk=user.pk).card_mask is None


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def test_exactly_18_today_is_an_adult():
    born = _years_before(business_today(), 18)
    assert services.user_create(**{**PERSON, "date_of_birth": born}).pk


def test_one_day_short_of_18_is_refused():
    born = _years_before(business_today(), 18) + timedelta(days=1)
    with pytest.raises(ValidationFailed) as info:
        services.user_create(**{**PERSON, "date_of_birth": born})
    assert (info.value.attr, info.value.reason) == ("date_of_birth", "underage")
    assert not Customer.objects.exists()


def test_age_is_counted_in_the_business_time_zone(monkeypatch, settings):
    # 20:00 UTC on 10 January is already 11 January in Tashkent (UTC+5).
    settings.BNPL_TIME_ZONE = "Asia/Tashkent"
    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime(2026, 1, 10, 20, 0, tzinfo=ZoneInfo("UTC")))
    assert business_today() == date(2026, 1, 11)
    assert services.user_create(**{**PERSON, "date_of_birth": date(2008, 1, 11)}).pk
    settings.BNPL_TIME_ZONE = "UTC"
    with pytest.raises(ValidationFailed):
        services.user_create(**{**PERSON, "passport_number": "ZZ1111111", "date_of_birth": date(2008, 1, 11)})


def test_duplicate_passport_is_refused():
    services.user_create(**PERSON)
    with pytest.raises(DuplicateUser):
        services.user_create(**{**PERSON, "phone_number": "+998911111111"})
    assert Customer.objects.count() == 1


def test_update_contact_and_card():
    user = services.user_create(**PERSON)
    services.user_update(user=user, full_name="Jane Smith", phone_number="+998912223344", card_number=None)
    fresh = Customer.objects.get(pk=user.pk)
    assert fresh.full_name == "Jane Smith"
    assert fresh.phone_number == "+998912223344" and fresh.phone_mask == "+998****3344"
    assert fresh.phone_hash == lookup_hash("+998912223344")
    assert fresh.card_number is None and fresh.card_mask is None
    assert fresh.passport_number == "KZ9876543"  # untouched


def test_update_leaves_omitted_fields_alone():
    user = services.user_create(**PERSON)
    services.user_update(user=user, full_name="Only Name")
    fresh = Customer.objects.get(pk=user.pk)
    assert fresh.card_number == "5500005555555559" and fresh.phone_number == "+998917654321"


def test_update_never_touches_status():
    user = services.user_create(**PERSON)
    Customer.objects.filter(pk=user.pk).update(status=UserStatus.DEBT_USER)
    services.user_update(user=user, full_name="X")  # ``user`` in memory still says NORMAL
    assert Customer.objects.get(pk=user.pk).status == UserStatus.DEBT_USER


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_with_one_passport_creates_one_user():
    phones = ("+998911111111", "+998912222222")

    def create(i):
        try:
            services.user_create(**{**PERSON, "phone_number": phones[i]})
        except DuplicateUser:
            return "duplicate"
        return "created"

    outcomes = race(2, create, timeout=30)
    assert sorted(outcomes, key=str) == ["created", "duplicate"], outcomes
    assert Customer.objects.count() == 1


def test_the_age_check_reads_the_one_clock(business_day):
    business_day(date(2026, 1, 11))
    assert services.user_create(**{**PERSON, "date_of_birth": date(2008, 1, 11)}).pk
    with pytest.raises(ValidationFailed) as info:
        services.user_create(**{**PERSON, "passport_number": "ZZ1111111", "date_of_birth": date(2008, 1, 12)})
    assert info.value.reason == "underage"
