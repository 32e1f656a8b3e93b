"""API.md §1, users and merchants: every role/endpoint pair, allowed and denied."""
from collections.abc import Callable
from operator import attrgetter
from typing import Any

import pytest

from bnpl.models import Role
from merchants.tests.factories import MerchantFactory
from users.tests.factories import CustomerFactory, user_payload

pytestmark = pytest.mark.django_db

CLIENT, MERCHANT, OPERATOR = Role.CLIENT, Role.MERCHANT, Role.OPERATOR


def _users_list(api, ctx):
    return api.get("/api/v1/users/")


def _users_retrieve(api, ctx):
    return api.get(f"/api/v1/users/{ctx['user'].id}/")


def _users_create(api, ctx):
    return api.post("/api/v1/users/", user_payload(9))


def _users_patch(api, ctx):
    return api.patch(f"/api/v1/users/{ctx['user'].id}/", {"full_name": "New Name"})


def _merchants_list(api, ctx):
    return api.get("/api/v1/merchants/")


def _merchants_retrieve_own(api, ctx):
    return api.get(f"/api/v1/merchants/{ctx['merchant'].id}/")


def _merchants_create(api, ctx):
    return api.post("/api/v1/merchants/", {"name": "New Shop"})


def _merchants_rotate(api, ctx):
    return api.post(f"/api/v1/merchants/{ctx['merchant'].id}/rotate-secret/")


# (endpoint, role, expected status)
TABLE: list[tuple[Callable[..., Any], str, int]] = [
    (_users_list, CLIENT, 200), (_users_list, OPERATOR, 200), (_users_list, MERCHANT, 403),
    (_users_retrieve, CLIENT, 200), (_users_retrieve, OPERATOR, 200), (_users_retrieve, MERCHANT, 403),
    (_users_create, CLIENT, 201), (_users_create, OPERATOR, 403), (_users_create, MERCHANT, 403),
    (_users_patch, CLIENT, 200), (_users_patch, OPERATOR, 403), (_users_patch, MERCHANT, 403),
    (_merchants_list, CLIENT, 200), (_merchants_list, OPERATOR, 200), (_merchants_list, MERCHANT, 200),
    (_merchants_retrieve_own, CLIENT, 200), (_merchants_retrieve_own, OPERATOR, 200),
    (_merchants_retrieve_own, MERCHANT, 200),
    (_merchants_create, OPERATOR, 201), (_merchants_create, CLIENT, 403), (_merchants_create, MERCHANT, 403),
    (_merchants_rotate, OPERATOR, 200), (_merchants_rotate, CLIENT, 403), (_merchants_rotate, MERCHANT, 403),
]


@pytest.fixture
def ctx(merchant):
    return {"user": CustomerFactory(full_name="Old Name"), "merchant": merchant}


def _api(make_api, role, merchant):
    return make_api(role, merchant=merchant if role == MERCHANT else None)


@pytest.mark.parametrize(("call", "role", "expected"), TABLE,
                         ids=[f"{c.__name__[1:]}-{r}-{s}" for c, r, s in TABLE])
def test_role_table(make_api, ctx, call, role, expected):
    r = call(_api(make_api, role, ctx["merchant"]), ctx)
    assert r.status_code == expected, r.content
    if expected == 403:
        assert r.json()["code"] == "permission_denied"


@pytest.mark.parametrize("call", sorted({c for c, _, _ in TABLE}, key=attrgetter("__name__")))
def test_every_endpoint_needs_a_key(anon_api, ctx, call):
    r = call(anon_api, ctx)
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"


def test_denied_writes_change_nothing(make_api, ctx):
    from merchants.models import Merchant
    from users.models import Customer

    secret = Merchant.objects.get(pk=ctx["merchant"].pk).webhook_secret
    for role in (OPERATOR, MERCHANT):
        api = _api(make_api, role, ctx["merchant"])
        _users_create(api, ctx)
        _users_patch(api, ctx)
    for role in (CLIENT, MERCHANT):
        api = _api(make_api, role, ctx["merchant"])
        _merchants_create(api, ctx)
        _merchants_rotate(api, ctx)
    assert Customer.objects.count() == 1 and Customer.objects.get().full_name == "Old Name"
    assert Merchant.objects.count() == 1 and Merchant.objects.get().webhook_secret == secret


def test_merchant_key_sees_only_its_own_merchant(merchant_api, merchant):
    other = MerchantFactory()
    listed = merchant_api.get("/api/v1/merchants/").json()["results"]
    assert [m["id"] for m in listed] == [str(merchant.id)]
    r = merchant_api.get(f"/api/v1/merchants/{other.id}/")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


@pytest.mark.parametrize("role", [CLIENT, OPERATOR])
def test_clients_and_operators_see_every_merchant(make_api, merchant, role):
    other = MerchantFactory()
    api = make_api(role)
    ids = {m["id"] for m in api.get("/api/v1/merchants/").json()["results"]}
    assert ids == {str(merchant.id), str(other.id)}
    assert api.get(f"/api/v1/merchants/{other.id}/").status_code == 200


def test_operator_rotating_an_unknown_merchant_is_404(operator_api):
    r = operator_api.post("/api/v1/merchants/7d4f1a56-0000-4000-8000-000000000000/rotate-secret/")
    assert r.status_code == 404


@pytest.mark.parametrize("method", ["put", "delete"])
@pytest.mark.parametrize("role", [CLIENT, OPERATOR, MERCHANT])
def test_put_and_delete_on_users_are_405_for_every_role(make_api, ctx, method, role):
    api = _api(make_api, role, ctx["merchant"])
    r = getattr(api, method)(f"/api/v1/users/{ctx['user'].id}/", "{}", content_type="application/json")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_merchants_have_no_update_or_delete(operator_api, merchant, method):
    r = getattr(operator_api, method)(f"/api/v1/merchants/{merchant.id}/", "{}", content_type="application/json")
    assert r.status_code == 405
