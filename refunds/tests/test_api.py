"""Refund endpoints over HTTP: shape, validation, roles and reach, idempotency."""
import uuid

import pytest

from merchants.tests.factories import MerchantFactory
from plans.models import Plan
from plans.tests.factories import make_plan, minor
from refunds.models import Refund, RefundStatus
from refunds.services import refund_approve
from refunds.tests.factories import make_refund

pytestmark = [pytest.mark.django_db, pytest.mark.money]

REFUND_FIELDS = {"id", "plan_id", "user_id", "merchant_id", "transaction_id", "amount", "currency", "reason",
                 "status", "applied_amount", "payout_amount", "allocations", "payout_id",  # API.md §7 v1.1
                 "created_at", "decided_at"}


@pytest.fixture
def plan(merchant):
    return make_plan(merchant=merchant, total_amount="1000.00")


def _body(plan, **overrides):
    return {"plan_id": str(plan.pk), "transaction_id": "TX-1", "amount": "100.00", "reason": "returned", **overrides}


def test_create_returns_the_refund_exactly_as_the_contract_says(client_api, plan):
    r = client_api.post("/api/v1/refunds/", _body(plan))

    assert r.status_code == 201, r.content
    body = r.json()
    assert set(body) == REFUND_FIELDS
    assert body["plan_id"] == str(plan.pk) and body["user_id"] == str(plan.user_id)
    assert body["merchant_id"] == str(plan.merchant_id)
    assert (body["transaction_id"], body["amount"], body["currency"], body["reason"]) == \
        ("TX-1", "100.00", "UZS", "returned")
    assert body["status"] == "PENDING"
    assert body["applied_amount"] is None and body["payout_amount"] is None and body["decided_at"] is None
    assert Refund.objects.get(pk=body["id"]).amount == minor("100.00")


def test_approve_response_carries_applied_and_payout(merchant_api, plan):
    refund = make_refund(plan=plan, amount="100.00")
    r = merchant_api.post(f"/api/v1/refunds/{refund.pk}/approve/")
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["status"], body["applied_amount"], body["payout_amount"]) == ("APPROVED", "100.00", "0.00")
    assert body["decided_at"] is not None
    refund.refresh_from_db()
    assert refund.decided_by == f"api_key:{merchant_api.api_key.pk}"
    assert Plan.objects.get(pk=plan.pk).refunded_amount == minor("100.00")


def test_amount_as_json_number_is_exact(client_api, plan):
    raw = '{"plan_id": "PLAN", "transaction_id": "N", "amount": 100.1}'.replace("PLAN", str(plan.pk))
    r = client_api.post("/api/v1/refunds/", raw, content_type="application/json")
    assert r.status_code == 201, r.content
    assert r.json()["amount"] == "100.10"


@pytest.mark.parametrize("field, value", [
    ("amount", "0"), ("amount", "-1.00"), ("amount", "1.001"), ("amount", "1000000000000"), ("amount", "abc"),
    ("amount", None), ("transaction_id", ""), ("transaction_id", "x" * 65), ("reason", "r" * 501),
    ("plan_id", "not-a-uuid"),
])
def test_invalid_fields_are_400(client_api, plan, field, value):
    r = client_api.post("/api/v1/refunds/", _body(plan, **{field: value}))
    assert r.status_code == 400
    assert r.json()["code"] == "validation_error" and r.json()["errors"][0]["attr"] == field
    assert not Refund.objects.exists()


@pytest.mark.parametrize("missing", ["plan_id", "transaction_id", "amount"])
def test_missing_required_fields_are_400(client_api, plan, missing):
    body = _body(plan)
    del body[missing]
    r = client_api.post("/api/v1/refunds/", body)
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == missing


def test_reason_is_optional(client_api, plan):
    body = _body(plan)
    del body["reason"]
    r = client_api.post("/api/v1/refunds/", body)
    assert r.status_code == 201 and r.json()["reason"] == ""


def test_plan_out_of_reach_looks_exactly_like_a_missing_plan(merchant_api):
    others = make_plan(merchant=MerchantFactory())
    r_other = merchant_api.post("/api/v1/refunds/", _body(others))
    r_missing = merchant_api.post("/api/v1/refunds/", {**_body(others), "plan_id": str(uuid.uuid4())})
    assert r_other.status_code == r_missing.status_code == 400
    assert r_other.json() == r_missing.json()
    assert r_other.json()["errors"][0] == {"attr": "plan_id", "code": "does_not_exist", "detail": "No such plan."}
    assert not Refund.objects.exists()


def test_natural_idempotency_returns_the_existing_refund_with_200(client_api, plan):
    first = client_api.post("/api/v1/refunds/", _body(plan))
    again = client_api.post("/api/v1/refunds/", _body(plan, reason="different text"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Refund.objects.count() == 1


@pytest.mark.parametrize("change", ["amount", "plan"])
def test_transaction_reused_with_other_plan_or_amount_is_409(client_api, plan, merchant, change):
    assert client_api.post("/api/v1/refunds/", _body(plan)).status_code == 201
    body = _body(make_plan(merchant=merchant)) if change == "plan" else _body(plan, amount="100.01")
    r = client_api.post("/api/v1/refunds/", body)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_transaction"
    assert Refund.objects.count() == 1


def test_refund_above_refundable_is_409(client_api, plan):
    assert client_api.post("/api/v1/refunds/", _body(plan, amount="900.00")).status_code == 201
    r = client_api.post("/api/v1/refunds/", _body(plan, transaction_id="TX-2", amount="100.01"))
    assert r.status_code == 409 and r.json()["code"] == "refund_exceeds_refundable"
    assert client_api.post("/api/v1/refunds/", _body(plan, transaction_id="TX-3", amount="100.00")).status_code == 201


def test_idempotency_key_replays_and_refuses_reuse(client_api, plan):
    r1 = client_api.post("/api/v1/refunds/", _body(plan), HTTP_IDEMPOTENCY_KEY="refund-key-1")
    r2 = client_api.post("/api/v1/refunds/", _body(plan), HTTP_IDEMPOTENCY_KEY="refund-key-1")
    assert (r1.status_code, r2.status_code) == (201, 201)
    assert r2["Idempotent-Replayed"] == "true" and r2.content == r1.content
    r3 = client_api.post("/api/v1/refunds/", _body(plan, amount="5.00"), HTTP_IDEMPOTENCY_KEY="refund-key-1")
    assert r3.status_code == 422 and r3.json()["code"] == "idempotency_key_reused"
    assert Refund.objects.count() == 1


def test_idempotent_approve_replays_instead_of_409(operator_api, plan):
    refund = make_refund(plan=plan)
    r1 = operator_api.post(f"/api/v1/refunds/{refund.pk}/approve/", HTTP_IDEMPOTENCY_KEY="approve-1")
    r2 = operator_api.post(f"/api/v1/refunds/{refund.pk}/approve/", HTTP_IDEMPOTENCY_KEY="approve-1")
    assert (r1.status_code, r2.status_code) == (200, 200) and r2["Idempotent-Replayed"] == "true"
    r3 = operator_api.post(f"/api/v1/refunds/{refund.pk}/approve/")
    assert r3.status_code == 409 and r3.json()["code"] == "invalid_state"
    assert Plan.objects.get(pk=plan.pk).refunded_amount == minor("100.00")


@pytest.mark.parametrize("first", ["approve", "reject", "cancel"])
@pytest.mark.parametrize("then", ["approve", "reject", "cancel"])
def test_any_decision_on_a_decided_refund_is_409(operator_api, plan, first, then):
    refund = make_refund(plan=plan)
    assert operator_api.post(f"/api/v1/refunds/{refund.pk}/{first}/").status_code == 200
    r = operator_api.post(f"/api/v1/refunds/{refund.pk}/{then}/")
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    expected = {"approve": "APPROVED", "reject": "REJECTED", "cancel": "CANCELLED"}[first]
    assert Refund.objects.get(pk=refund.pk).status == expected


@pytest.mark.parametrize("action, status", [("reject", "REJECTED"), ("cancel", "CANCELLED")])
def test_reject_and_cancel_store_the_reason(operator_api, plan, action, status):
    refund = make_refund(plan=plan)
    r = operator_api.post(f"/api/v1/refunds/{refund.pk}/{action}/", {"reason": "not returned"})
    assert r.status_code == 200 and r.json()["status"] == status and r.json()["decided_at"]
    refund.refresh_from_db()
    assert refund.decision_reason == "not returned" and refund.decided_by == f"api_key:{operator_api.api_key.pk}"


def test_reject_reason_too_long_is_400(operator_api, plan):
    refund = make_refund(plan=plan)
    r = operator_api.post(f"/api/v1/refunds/{refund.pk}/reject/", {"reason": "r" * 501})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "reason"
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.PENDING


def test_list_filters(operator_api, merchant):
    plan_a, plan_b = make_plan(merchant=merchant), make_plan()
    a1, a2 = make_refund(plan=plan_a), make_refund(plan=plan_a)
    b1 = make_refund(plan=plan_b)
    refund_approve(refund=a2, decided_by="t")

    def ids(query):
        r = operator_api.get(f"/api/v1/refunds/{query}")
        assert r.status_code == 200, r.content
        return {row["id"] for row in r.json()["results"]}

    assert ids("") == {str(a1.pk), str(a2.pk), str(b1.pk)}
    assert ids(f"?plan_id={plan_a.pk}") == {str(a1.pk), str(a2.pk)}
    assert ids(f"?user_id={plan_b.user_id}") == {str(b1.pk)}
    assert ids("?status=APPROVED") == {str(a2.pk)}
    assert ids(f"?status=PENDING&plan_id={plan_a.pk}") == {str(a1.pk)}
    assert operator_api.get("/api/v1/refunds/?status=NOPE").status_code == 400
    assert operator_api.get("/api/v1/refunds/?plan_id=nope").status_code == 400


def test_list_is_cursor_paginated_newest_first(operator_api, plan):
    made = [make_refund(plan=plan, amount="10.00") for _ in range(3)]
    r = operator_api.get("/api/v1/refunds/?limit=2")
    page = r.json()
    assert [row["id"] for row in page["results"]] == [str(made[2].pk), str(made[1].pk)]
    assert page["previous"] is None and page["next"]
    rest = operator_api.get(page["next"]).json()
    assert [row["id"] for row in rest["results"]] == [str(made[0].pk)] and rest["next"] is None


def test_merchant_sees_and_decides_only_its_own_refunds(merchant_api, plan):
    own = make_refund(plan=plan)
    other = make_refund(plan=make_plan(merchant=MerchantFactory()))

    listed = {row["id"] for row in merchant_api.get("/api/v1/refunds/").json()["results"]}
    assert listed == {str(own.pk)}
    assert merchant_api.get(f"/api/v1/refunds/{other.pk}/").status_code == 404
    for action in ("approve", "reject"):
        r = merchant_api.post(f"/api/v1/refunds/{other.pk}/{action}/")
        assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert Refund.objects.get(pk=other.pk).status == RefundStatus.PENDING


def test_unknown_refund_is_404(operator_api):
    assert operator_api.get(f"/api/v1/refunds/{uuid.uuid4()}/").status_code == 404
    assert operator_api.post(f"/api/v1/refunds/{uuid.uuid4()}/approve/").status_code == 404


# --- API.md §1: every role/endpoint pair, allow and deny --------------------------------------------

ROLE_MATRIX = [
    # endpoint, client, merchant (own objects), operator
    ("list", 200, 200, 200),
    ("retrieve", 200, 200, 200),
    ("create", 201, 201, 403),
    ("approve", 403, 200, 200),
    ("reject", 403, 200, 200),
    ("cancel", 200, 403, 200),
]
DECIDED = {"approve": "APPROVED", "reject": "REJECTED", "cancel": "CANCELLED"}


def _call(api, endpoint, plan, refund):
    if endpoint == "list":
        return api.get("/api/v1/refunds/")
    if endpoint == "retrieve":
        return api.get(f"/api/v1/refunds/{refund.pk}/")
    if endpoint == "create":
        return api.post("/api/v1/refunds/", _body(plan, transaction_id="ROLE-TX"))
    return api.post(f"/api/v1/refunds/{refund.pk}/{endpoint}/")


@pytest.mark.parametrize("role_index, role", [(1, "client"), (2, "merchant"), (3, "operator")])
@pytest.mark.parametrize("row", ROLE_MATRIX, ids=[row[0] for row in ROLE_MATRIX])
def test_role_matrix(make_api, merchant, plan, row, role_index, role):
    endpoint, expected = row[0], row[role_index]
    refund = make_refund(plan=plan)
    api = make_api(role, merchant=merchant if role == "merchant" else None)

    r = _call(api, endpoint, plan, refund)

    assert r.status_code == expected, (endpoint, role, r.content)
    refund.refresh_from_db()
    if expected == 403:
        assert r.json()["code"] == "permission_denied"
        assert refund.status == RefundStatus.PENDING
        assert Refund.objects.count() == 1
    elif endpoint in DECIDED:
        assert refund.status == DECIDED[endpoint]
    elif endpoint == "create":
        assert Refund.objects.filter(transaction_id="ROLE-TX").exists()


@pytest.mark.parametrize("endpoint", [row[0] for row in ROLE_MATRIX])
def test_no_key_is_401(anon_api, plan, endpoint):
    refund = make_refund(plan=plan)
    r = _call(anon_api, endpoint, plan, refund)
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.PENDING
