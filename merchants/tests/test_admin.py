"""The admin never shows a merchant's webhook secret."""
import pytest
from django.contrib.auth import get_user_model

from merchants.models import Merchant

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def _assert_no_secret(html: str, merchant) -> None:
    secret = Merchant.objects.get(pk=merchant.pk).webhook_secret
    assert secret not in html and secret.removeprefix("whsec_") not in html
    assert "whsec_" not in html and 'name="webhook_secret"' not in html


def test_changelist_and_change_page_never_show_the_secret(staff_client, merchant):
    listed = staff_client.get("/admin/merchants/merchant/")
    assert listed.status_code == 200 and merchant.name in listed.content.decode()
    _assert_no_secret(listed.content.decode(), merchant)
    detail = staff_client.get(f"/admin/merchants/merchant/{merchant.pk}/change/")
    assert detail.status_code == 200 and merchant.name in detail.content.decode()
    _assert_no_secret(detail.content.decode(), merchant)


def test_admin_cannot_add_or_change_merchants(staff_client, merchant):
    assert staff_client.get("/admin/merchants/merchant/add/").status_code == 403
    r = staff_client.post(f"/admin/merchants/merchant/{merchant.pk}/change/", {"name": "Renamed"})
    assert r.status_code == 403
    assert Merchant.objects.get(pk=merchant.pk).name == merchant.name
