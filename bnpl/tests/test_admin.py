"""API keys in the admin: prefix, role and revocation; never the hash."""
import pytest
from django.contrib.auth import get_user_model

from bnpl.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def test_api_keys_show_prefix_role_and_revocation_never_the_hash(staff_client, client_api, merchant_api):
    for url in ("/admin/bnpl/apikey/", f"/admin/bnpl/apikey/{client_api.api_key.pk}/change/"):
        r = staff_client.get(url)
        assert r.status_code == 200
        html = r.content.decode()
        assert client_api.api_key.prefix in html and "client" in html.lower()
        assert client_api.api_key.key_hash not in html and client_api.raw_key not in html
        assert merchant_api.api_key.key_hash not in html and merchant_api.raw_key not in html
        assert 'name="key_hash"' not in html


def test_admin_cannot_add_keys(staff_client):
    assert staff_client.get("/admin/bnpl/apikey/add/").status_code == 403


def test_revoke_action_revokes_through_the_service(staff_client, client_api):
    r = staff_client.post("/admin/bnpl/apikey/", {"action": "revoke", "_selected_action": [client_api.api_key.pk]})
    assert r.status_code == 302
    assert ApiKey.objects.get(pk=client_api.api_key.pk).revoked_at is not None
    assert client_api.get("/api/v1/users/").status_code == 401
