"""create_api_key / revoke_api_key / rotate_field_keys as an operator runs them."""
import io

import pytest
from django.core.management import CommandError, call_command

from bnpl.models import ApiKey, Role, hash_api_key
from conftest import ApiClient

pytestmark = pytest.mark.django_db


def _run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _last_line(text: str) -> str:
    return text.rstrip("\n").split("\n")[-1]


@pytest.mark.parametrize("role", ["client", "operator"])
def test_create_api_key_prints_the_raw_key_alone_on_the_last_line(role):
    out, err = _run("create_api_key", "--role", role, "--name", "app")
    raw = _last_line(out)
    assert raw == raw.strip() and " " not in raw and raw.startswith("bnpl_")
    assert (out + err).count(raw) == 1  # printed once
    api_key = ApiKey.objects.get()
    assert api_key.role == role and api_key.name == "app"
    assert api_key.key_hash == hash_api_key(raw)
    assert ApiClient().get("/api/v1/merchants/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_create_api_key_for_a_merchant(merchant):
    out, _ = _run("create_api_key", "--role", "merchant", "--name", "shop", "--merchant", str(merchant.id))
    raw = _last_line(out)
    assert ApiKey.objects.get().merchant_id == merchant.id
    r = ApiClient().get(f"/api/v1/merchants/{merchant.id}/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert r.status_code == 200


@pytest.mark.parametrize("args", [
    ["--role", "merchant", "--name", "x"],                                       # merchant key needs --merchant
    ["--role", "merchant", "--name", "x", "--merchant", "not-a-uuid"],
    ["--role", "merchant", "--name", "x", "--merchant", "7d4f1a56-0000-4000-8000-000000000000"],
])
def test_create_api_key_refuses_bad_merchant(args):
    with pytest.raises(CommandError):
        _run("create_api_key", *args)
    assert not ApiKey.objects.exists()


def test_create_api_key_refuses_a_merchant_for_other_roles(merchant):
    with pytest.raises(CommandError):
        _run("create_api_key", "--role", "client", "--name", "x", "--merchant", str(merchant.id))
    assert not ApiKey.objects.exists()


def test_revoke_api_key_makes_the_key_401():
    out, _ = _run("create_api_key", "--role", Role.CLIENT, "--name", "app")
    raw = _last_line(out)
    api_key = ApiKey.objects.get()
    _run("revoke_api_key", str(api_key.id))
    r = ApiClient().get("/api/v1/users/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert r.status_code == 401 and r.json()["code"] == "authentication_failed"


@pytest.mark.parametrize("key_id", ["nope", "7d4f1a56-0000-4000-8000-000000000000"])
def test_revoke_api_key_refuses_unknown_ids(key_id):
    with pytest.raises(CommandError):
        _run("revoke_api_key", key_id)
