"""The admin shows users masked exactly as the API does and never a raw value."""
from datetime import date

import pytest
from django.contrib.auth import get_user_model

from users.models import Customer
from users.services import user_create

pytestmark = pytest.mark.django_db

PERSON = {"full_name": "Jane Roe", "phone_number": "+998917654321", "passport_number": "KZ9876543",
          "date_of_birth": date(1985, 11, 23), "card_number": "5500005555555559"}
RAW = ["+998917654321", "998917654321", "KZ9876543", "9876543", "1985-11-23", "5500005555555559", "00005555"]
MASKS = ["+998****4321", "KZ*******", "1985-**-**", "5500 **** **** 5559"]


@pytest.fixture
def staff_client(client):
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(admin)
    return client


@pytest.fixture
def person():
    return user_create(**PERSON)


def _assert_masked(html: str, masks=MASKS):
    for raw in RAW:
        assert raw not in html, raw
    for mask in masks:
        assert mask in html, mask


def test_changelist_shows_masks_only(staff_client, person):
    r = staff_client.get("/admin/users/customer/")
    assert r.status_code == 200
    _assert_masked(r.content.decode(), ["+998****4321", "KZ*******", "5500 **** **** 5559"])


def test_change_page_shows_masks_only_and_no_form_inputs_for_personal_data(staff_client, person):
    r = staff_client.get(f"/admin/users/customer/{person.pk}/change/")
    assert r.status_code == 200
    html = r.content.decode()
    _assert_masked(html)
    for field in Customer.ENCRYPTED_FIELDS + ("status",):
        assert f'name="{field}"' not in html, field


def test_changelist_search_by_name(staff_client, person):
    r = staff_client.get("/admin/users/customer/", {"q": "Jane"})
    assert r.status_code == 200 and "+998****4321" in r.content.decode()


def test_admin_cannot_add_change_or_delete_users(staff_client, person):
    assert staff_client.get("/admin/users/customer/add/").status_code == 403
    r = staff_client.post(f"/admin/users/customer/{person.pk}/change/", {"full_name": "Hacked", "status": "DEBT_USER"})
    assert r.status_code == 403
    assert staff_client.post(f"/admin/users/customer/{person.pk}/delete/", {"post": "yes"}).status_code == 403
    fresh = Customer.objects.get(pk=person.pk)
    assert (fresh.full_name, fresh.status) == ("Jane Roe", "NORMAL")


def test_admin_requires_staff(client, person):
    r = client.get("/admin/users/customer/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]
