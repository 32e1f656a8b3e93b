"""OWASP API1 (broken object level authorization), systematically: merchant A's key against merchant B.

Every endpoint that takes an object id, and every list and reference in a body, with B's objects:
A gets exactly what it would get for an id that does not exist (404, or the same 400 for a
reference in a body), B's objects are unchanged, and no list ever includes B's rows whatever
the filters. Endpoints a merchant may never use answer 403 for any id, B's or unknown alike.
"""
import uuid

import pytest

from bnpl.models import Role
from merchants.models import Merchant
from merchants.tests.factories import MerchantFactory
from plans.tests.factories import make_plan
from refunds.models import Refund, RefundStatus
from refunds.tests.factories import make_refund
from users.tests.factories import CustomerFactory
from webhooks.services import webhook_event_receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_api):
    """Merchants A and B, each with a user, a plan and a PENDING refund; A's key."""
    a, b = MerchantFactory(), MerchantFactory()
    user_a, user_b = CustomerFactory(), CustomerFactory()
    plan_a, plan_b = make_plan(user=user_a, merchant=a), make_plan(user=user_b, merchant=b)
    refund_a = make_refund(plan=plan_a, amount="10.00", transaction_id="A-1")
    refund_b = make_refund(plan=plan_b, amount="10.00", transaction_id="B-1")
    event_b, _ = webhook_event_receive(merchant=b, webhook_id="msg_b", event_type="refund.status_changed",
                                       payload={}, refund=refund_b)
    return {"a": a, "b": b, "user_a": user_a, "user_b": user_b, "plan_a": plan_a, "plan_b": plan_b,
            "refund_a": refund_a, "refund_b": refund_b, "event_b": event_b,
            "api": make_api(Role.MERCHANT, merchant=a)}


# (method, path template, kind of B's object in the path)
NOT_FOUND = [
    ("get", "/api/v1/plans/{}/", "plan_b"),
    ("get", "/api/v1/refunds/{}/", "refund_b"),
    ("post", "/api/v1/refunds/{}/approve/", "refund_b"),
    ("post", "/api/v1/refunds/{}/reject/", "refund_b"),
    ("get", "/api/v1/merchants/{}/", "b"),
]
# A merchant may never use these (API.md §1): 403 whatever the id.
FORBIDDEN = [
    ("post", "/api/v1/refunds/{}/cancel/", "refund_b"),
    ("post", "/api/v1/merchants/{}/rotate-secret/", "b"),
    ("get", "/api/v1/users/{}/", "user_b"),
    ("patch", "/api/v1/users/{}/", "user_b"),
    ("get", "/api/v1/debt/{}/", "user_b"),
    ("post", "/api/v1/debt/{}/", "user_b"),
    ("get", "/api/v1/debt/{}/repayments/", "user_b"),
    ("get", "/api/v1/webhook-events/{}/", "event_b"),
]


def _call(api, method, path, body=None):
    return getattr(api, method)(path, body if body is not None else ({} if method != "get" else None))


@pytest.mark.parametrize("method, template, kind", NOT_FOUND, ids=[f"{m} {t}" for m, t, _ in NOT_FOUND])
def test_another_merchants_object_looks_exactly_like_a_missing_one(world, method, template, kind):
    api = world["api"]
    foreign = _call(api, method, template.format(world[kind].pk))
    missing = _call(api, method, template.format(uuid.uuid4()))
    assert foreign.status_code == 404 == missing.status_code
    assert foreign.json() == missing.json()  # not even the detail tells them apart
    assert str(world[kind].pk) not in foreign.content.decode()


@pytest.mark.parametrize("method, template, kind", NOT_FOUND, ids=[f"{m} {t}" for m, t, _ in NOT_FOUND])
def test_the_same_endpoint_reaches_the_merchants_own_object(world, method, template, kind):
    """The control: the 404 above is about reach, not a broken endpoint."""
    own = {"plan_b": "plan_a", "refund_b": "refund_a", "b": "a"}[kind]
    r = _call(world["api"], method, template.format(world[own].pk))
    assert r.status_code == 200, r.content


@pytest.mark.parametrize("method, template, kind", FORBIDDEN, ids=[f"{m} {t}" for m, t, _ in FORBIDDEN])
def test_endpoints_a_merchant_may_never_use_are_403_for_any_id(world, method, template, kind):
    api = world["api"]
    foreign = _call(api, method, template.format(world[kind].pk))
    missing = _call(api, method, template.format(uuid.uuid4()))
    assert foreign.status_code == 403 == missing.status_code
    assert foreign.json() == missing.json()


def test_decisions_on_another_merchants_refund_change_nothing(world):
    api, refund_b = world["api"], world["refund_b"]
    # approve/reject: out of reach, so 404 (NOT_FOUND above); cancel: never a merchant's, so 403.
    for action, expected in (("approve", 404), ("reject", 404), ("cancel", 403)):
        assert api.post(f"/api/v1/refunds/{refund_b.pk}/{action}/", {"reason": "x"}).status_code == expected
    refund_b.refresh_from_db()
    assert refund_b.status == RefundStatus.PENDING and refund_b.decided_at is None
    secret = Merchant.objects.get(pk=world["b"].pk).webhook_secret
    api.post(f"/api/v1/merchants/{world['b'].pk}/rotate-secret/")
    assert Merchant.objects.get(pk=world["b"].pk).webhook_secret == secret


@pytest.mark.parametrize("path, filters", [
    ("/api/v1/plans/", [{}, {"merchant_id": "b"}, {"user_id": "user_b"}, {"status": "ACTIVE"}]),
    ("/api/v1/refunds/", [{}, {"plan_id": "plan_b"}, {"user_id": "user_b"}, {"status": "PENDING"}]),
    ("/api/v1/merchants/", [{}]),
])
def test_lists_never_include_another_merchants_rows_whatever_the_filter(world, path, filters):
    foreign = {str(world[k].pk) for k in ("b", "plan_b", "refund_b")}
    own = {str(world[k].pk) for k in ("a", "plan_a", "refund_a")}
    for query in filters:
        params = {name: (str(world[value].pk) if value in world else value) for name, value in query.items()}
        r = world["api"].get(path, params)
        assert r.status_code == 200, r.content
        ids = {row["id"] for row in r.json()["results"]}
        assert not ids & foreign, (path, query)
        if not query:
            assert ids and ids <= own  # the control: A's own rows are listed


def test_a_plan_for_another_merchant_is_refused_like_an_unknown_merchant(world):
    api, user = world["api"], world["user_a"]
    body = {"user_id": str(user.pk), "total_amount": "300.00", "installment_count": 3}
    foreign = api.post("/api/v1/plans/", {**body, "merchant_id": str(world["b"].pk)})
    missing = api.post("/api/v1/plans/", {**body, "merchant_id": str(uuid.uuid4())})
    assert foreign.status_code == 400 == missing.status_code
    assert foreign.json() == missing.json()
    assert not world["b"].plans.exclude(pk=world["plan_b"].pk).exists()


def test_a_refund_on_another_merchants_plan_is_refused_like_an_unknown_plan(world):
    api = world["api"]
    body = {"transaction_id": "A-2", "amount": "5.00"}
    foreign = api.post("/api/v1/refunds/", {**body, "plan_id": str(world["plan_b"].pk)})
    missing = api.post("/api/v1/refunds/", {**body, "plan_id": str(uuid.uuid4())})
    assert foreign.status_code == 400 == missing.status_code
    assert foreign.json() == missing.json()
    assert Refund.objects.filter(plan=world["plan_b"]).count() == 1


def test_a_transaction_id_of_another_merchant_is_no_collision(world):
    """transaction_id is unique per merchant: B's "B-1" neither blocks A nor leaks B's refund to A."""
    r = world["api"].post("/api/v1/refunds/", {"plan_id": str(world["plan_a"].pk), "transaction_id": "B-1",
                                               "amount": "5.00"})
    assert r.status_code == 201
    assert r.json()["id"] != str(world["refund_b"].pk) and r.json()["merchant_id"] == str(world["a"].pk)
