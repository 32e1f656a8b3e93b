"""/api/v1/merchants/ (API.md §5): the secret is shown on create and rotate only."""
import pytest

from merchants.models import Merchant
from merchants.tests.test_services import assert_webhook_secret

pytestmark = pytest.mark.django_db

URL = "/api/v1/merchants/"


def test_create_shows_the_secret_once(operator_api, client_api):
    r = operator_api.post(URL, {"name": "Shop"})
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"id", "name", "webhook_secret", "created_at"}
    assert body["name"] == "Shop"
    assert_webhook_secret(body["webhook_secret"])
    assert Merchant.objects.get(pk=body["id"]).webhook_secret == body["webhook_secret"]
    for api in (operator_api, client_api):
        listed = api.get(URL)
        detail = api.get(f"{URL}{body['id']}/")
        assert "webhook_secret" not in listed.json()["results"][0] and "webhook_secret" not in detail.json()
        assert body["webhook_secret"] not in listed.content.decode() + detail.content.decode()
        assert "whsec_" not in listed.content.decode() + detail.content.decode()
        assert detail.json() == {k: body[k] for k in ("id", "name", "created_at")}


def test_merchant_sees_itself_without_the_secret(merchant_api, merchant):
    r = merchant_api.get(f"{URL}{merchant.id}/")
    assert r.status_code == 200 and r.json()["id"] == str(merchant.id)
    assert "webhook_secret" not in r.json()


def test_rotate_secret_shows_a_new_secret(operator_api, merchant):
    old = merchant.webhook_secret
    r = operator_api.post(f"{URL}{merchant.id}/rotate-secret/")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == str(merchant.id) and body["name"] == merchant.name
    assert_webhook_secret(body["webhook_secret"])
    assert body["webhook_secret"] != old
    assert Merchant.objects.get(pk=merchant.pk).webhook_secret == body["webhook_secret"]


def test_rotation_replayed_with_the_same_key_rotates_once(operator_api, merchant):
    first = operator_api.post(f"{URL}{merchant.id}/rotate-secret/", HTTP_IDEMPOTENCY_KEY="rot-1")
    again = operator_api.post(f"{URL}{merchant.id}/rotate-secret/", HTTP_IDEMPOTENCY_KEY="rot-1")
    assert again["Idempotent-Replayed"] == "true" and again.content == first.content
    assert Merchant.objects.get(pk=merchant.pk).webhook_secret == first.json()["webhook_secret"]


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 201}, {"name": None}])
def test_create_validates_the_name(operator_api, body):
    r = operator_api.post(URL, body)
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "name"
    assert not Merchant.objects.exists()
