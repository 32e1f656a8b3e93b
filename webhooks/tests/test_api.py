"""POST /webhook/refund-status/ after a valid signature, and GET /api/v1/webhook-events/ (API.md §8)."""
import json
import uuid

import pytest
from django.test import override_settings

from merchants.tests.factories import MerchantFactory
from plans.models import Plan
from plans.tests.factories import make_plan, minor
from refunds.models import Refund, RefundStatus
from refunds.services import refund_approve
from refunds.tests.factories import make_refund
from webhooks.models import EventStatus, WebhookEvent
from webhooks.tests.factories import URL, post_webhook, webhook_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(merchant):
    return make_plan(merchant=merchant, total_amount="1000.00")


@pytest.fixture
def refund(plan):
    return make_refund(plan=plan, amount="100.00", transaction_id="MTX-1")


def test_accepted_at_once_then_applied_by_the_task(anon_api, merchant, refund, django_capture_on_commit_callbacks):
    body = webhook_body(merchant=merchant, refund=refund, status="APPROVED")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = post_webhook(anon_api, merchant=merchant, body=body, msg_id="msg_ok")

    assert r.status_code == 202 and r.json() == {"id": "msg_ok", "status": "accepted"}
    event = WebhookEvent.objects.get(webhook_id="msg_ok")
    # Answered before anything was applied: the event waits, the refund is untouched.
    assert event.status == EventStatus.RECEIVED and event.refund_id == refund.pk
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.PENDING
    assert len(callbacks) == 1

    callbacks[0]()  # the on_commit enqueue; tasks run eagerly in the suite

    event.refresh_from_db()
    assert (event.status, event.status_reason, event.attempts) == (EventStatus.PROCESSED, "", 1)
    assert event.processed_at is not None
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED and refund.decided_by == f"webhook:{event.pk}"
    assert refund.applied_amount == minor("100.00")
    assert Plan.objects.get(pk=refund.plan_id).refunded_amount == minor("100.00")


def test_rejected_with_reason(anon_api, merchant, refund, django_capture_on_commit_callbacks):
    body = webhook_body(merchant=merchant, refund=refund, status="REJECTED", reason="item not returned")
    with django_capture_on_commit_callbacks(execute=True):
        assert post_webhook(anon_api, merchant=merchant, body=body).status_code == 202
    refund.refresh_from_db()
    assert (refund.status, refund.decision_reason) == (RefundStatus.REJECTED, "item not returned")
    assert WebhookEvent.objects.get().status == EventStatus.PROCESSED


def test_refund_found_by_transaction_id(anon_api, merchant, refund, django_capture_on_commit_callbacks):
    body = webhook_body(merchant=merchant, status="APPROVED", transaction_id="MTX-1")
    with django_capture_on_commit_callbacks(execute=True):
        assert post_webhook(anon_api, merchant=merchant, body=body).status_code == 202
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.APPROVED
    assert WebhookEvent.objects.get().refund_id == refund.pk


@pytest.mark.parametrize("data", [
    {"refund_id": str(uuid.uuid4())},
    {"transaction_id": "NO-SUCH"},
    {"refund_id": "REFUND", "transaction_id": "OTHER-TX"},
], ids=["unknown refund_id", "unknown transaction_id", "ids of two different refunds"])
def test_refund_not_found_for_that_merchant_is_404(anon_api, merchant, refund, data):
    if data.get("refund_id") == "REFUND":
        data = {**data, "refund_id": str(refund.pk)}
    r = post_webhook(anon_api, merchant=merchant, body=webhook_body(merchant=merchant, **data))
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert not WebhookEvent.objects.exists()


def test_another_merchants_refund_is_404(anon_api, merchant):
    foreign = make_refund(plan=make_plan(merchant=MerchantFactory()), transaction_id="MTX-1")
    for data in ({"refund_id": str(foreign.pk)}, {"transaction_id": "MTX-1"}):
        r = post_webhook(anon_api, merchant=merchant, body=webhook_body(merchant=merchant, **data))
        assert r.status_code == 404
    assert Refund.objects.get(pk=foreign.pk).status == RefundStatus.PENDING
    assert not WebhookEvent.objects.exists()


def _raw(merchant, refund, **changes) -> bytes:
    payload = json.loads(webhook_body(merchant=merchant, refund=refund))
    for path, value in changes.items():
        target, *keys = path.split("__")
        node = payload if target == "top" else payload["data"]
        if value is DELETE:
            del node[keys[0]]
        else:
            node[keys[0]] = value
    return json.dumps(payload).encode()


class _Delete:
    """Marks a key to remove; a stable repr keeps test ids equal across xdist workers."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()


@pytest.mark.parametrize("changes, attr", [
    ({"top__type": "refund.created"}, "type"),
    ({"top__type": DELETE}, "type"),
    ({"top__type": 7}, "type"),
    ({"data__status": DELETE}, "data.status"),
    ({"data__status": "PENDING"}, "data.status"),
    ({"data__status": "CANCELLED"}, "data.status"),
    ({"data__status": ["APPROVED"]}, "data.status"),
    ({"data__refund_id": DELETE}, "data.refund_id"),
    ({"data__refund_id": "not-a-uuid"}, "data.refund_id"),
    ({"data__refund_id": 12}, "data.refund_id"),
    ({"data__transaction_id": "x" * 65}, "data.transaction_id"),
    ({"data__reason": {"a": 1}}, "data.reason"),
    ({"data__reason": "r" * 501}, "data.reason"),
], ids=lambda v: repr(v)[:40] if isinstance(v, dict) else v)
def test_malformed_body_after_a_valid_signature_is_400(anon_api, merchant, refund, changes, attr):
    r = post_webhook(anon_api, merchant=merchant, body=_raw(merchant, refund, **changes))
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "validation_error" and r.json()["errors"][0]["attr"] == attr
    assert not WebhookEvent.objects.exists()


def test_webhook_id_longer_than_stored_is_400(anon_api, merchant, refund):
    r = post_webhook(anon_api, merchant=merchant, body=webhook_body(merchant=merchant, refund=refund),
                     msg_id="m" * 256)
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "webhook-id"


def test_same_webhook_id_again_is_a_duplicate_with_no_second_effect(anon_api, merchant, refund,
                                                                     django_capture_on_commit_callbacks):
    approve = webhook_body(merchant=merchant, refund=refund, status="APPROVED")
    with django_capture_on_commit_callbacks(execute=True):
        first = post_webhook(anon_api, merchant=merchant, body=approve, msg_id="msg_dup")
        again = post_webhook(anon_api, merchant=merchant, body=approve, msg_id="msg_dup")
        # Even a different (validly signed) body under the same id changes nothing.
        other = post_webhook(anon_api, merchant=merchant, msg_id="msg_dup",
                             body=webhook_body(merchant=merchant, refund=refund, status="REJECTED"))

    assert first.status_code == 202
    for r in (again, other):
        assert r.status_code == 200 and r.json() == {"id": "msg_dup", "status": "duplicate"}
    assert WebhookEvent.objects.count() == 1
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED
    assert Plan.objects.get(pk=refund.plan_id).refunded_amount == minor("100.00")


def test_same_webhook_id_from_another_merchant_is_its_own_event(anon_api, merchant, refund,
                                                                 django_capture_on_commit_callbacks):
    other_merchant = MerchantFactory()
    other_refund = make_refund(plan=make_plan(merchant=other_merchant))
    with django_capture_on_commit_callbacks(execute=True):
        a = post_webhook(anon_api, merchant=merchant, msg_id="msg_same",
                         body=webhook_body(merchant=merchant, refund=refund))
        b = post_webhook(anon_api, merchant=other_merchant, msg_id="msg_same",
                         body=webhook_body(merchant=other_merchant, refund=other_refund))
    assert (a.status_code, b.status_code) == (202, 202)
    assert WebhookEvent.objects.filter(webhook_id="msg_same").count() == 2
    assert Refund.objects.filter(status=RefundStatus.APPROVED).count() == 2


@pytest.mark.parametrize("decided_first, event_status", [
    ("approve", "REJECTED"), ("approve", "APPROVED"), ("reject", "APPROVED"), ("cancel", "APPROVED"),
])
def test_late_event_never_moves_a_decided_refund(anon_api, operator_api, merchant, refund, decided_first,
                                                 event_status, django_capture_on_commit_callbacks):
    assert operator_api.post(f"/api/v1/refunds/{refund.pk}/{decided_first}/").status_code == 200
    before = Refund.objects.values().get(pk=refund.pk)

    with django_capture_on_commit_callbacks(execute=True):
        r = post_webhook(anon_api, merchant=merchant,
                         body=webhook_body(merchant=merchant, refund=refund, status=event_status))

    assert r.status_code == 202
    event = WebhookEvent.objects.get()
    assert event.status == EventStatus.IGNORED
    assert event.status_reason == f"refund already {before['status']}" and event.processed_at is not None
    assert Refund.objects.values().get(pk=refund.pk) == before
    expected_refunded = minor("100.00") if decided_first == "approve" else minor("0.00")
    assert Plan.objects.get(pk=refund.plan_id).refunded_amount == expected_refunded


def test_out_of_order_events_first_one_applied_wins(anon_api, merchant, refund, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(anon_api, merchant=merchant, msg_id="msg_2",
                     body=webhook_body(merchant=merchant, refund=refund, status="REJECTED"))
        post_webhook(anon_api, merchant=merchant, msg_id="msg_1",
                     body=webhook_body(merchant=merchant, refund=refund, status="APPROVED"))
    statuses = dict(WebhookEvent.objects.values_list("webhook_id", "status"))
    assert statuses == {"msg_2": EventStatus.PROCESSED, "msg_1": EventStatus.IGNORED}
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.REJECTED


@override_settings(BNPL_WEBHOOK_MAX_BODY_BYTES=300)
def test_body_above_the_limit_is_413(anon_api, merchant, refund):
    body = webhook_body(merchant=merchant, refund=refund, reason="x" * 300)
    r = post_webhook(anon_api, merchant=merchant, body=body)
    assert r.status_code == 413 and r.json()["code"] == "request_too_large"
    small = webhook_body(merchant=merchant, refund=refund)
    assert len(small) <= 300
    assert post_webhook(anon_api, merchant=merchant, body=small).status_code == 202


def test_other_methods_are_405_problem(anon_api):
    r = anon_api.get(URL)
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


def test_no_api_key_or_csrf_token_needed(merchant, refund):
    from django.test import Client

    from webhooks.tests.factories import signed_headers

    body = webhook_body(merchant=merchant, refund=refund)
    client = Client(enforce_csrf_checks=True)
    r = client.post(URL, body, content_type="application/json",
                    **signed_headers(secret=merchant.webhook_secret, body=body))
    assert r.status_code == 202, r.content


# --- GET /api/v1/webhook-events/ -------------------------------------------------------------------

EVENT_FIELDS = {"id", "merchant_id", "webhook_id", "event_type", "refund_id", "status", "status_reason", "attempts",
                "received_at", "processed_at"}


def _receive(api, merchant, refund, msg_id, status="APPROVED"):
    r = post_webhook(api, merchant=merchant, msg_id=msg_id,
                     body=webhook_body(merchant=merchant, refund=refund, status=status, reason="secret words"))
    assert r.status_code == 202
    return WebhookEvent.objects.get(merchant=merchant, webhook_id=msg_id)


def test_operator_lists_events_without_payload(anon_api, operator_api, merchant, refund,
                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = _receive(anon_api, merchant, refund, "msg_a")
        second = _receive(anon_api, merchant, refund, "msg_b", status="REJECTED")

    r = operator_api.get("/api/v1/webhook-events/")

    assert r.status_code == 200
    rows = r.json()["results"]
    assert [row["id"] for row in rows] == [str(second.pk), str(first.pk)]  # newest first
    assert all(set(row) == EVENT_FIELDS for row in rows)
    assert b"secret words" not in r.content and b"payload" not in r.content
    newest = rows[0]
    assert (newest["merchant_id"], newest["refund_id"], newest["webhook_id"]) == \
        (str(merchant.pk), str(refund.pk), "msg_b")
    assert (newest["status"], newest["status_reason"], newest["attempts"]) == \
        ("IGNORED", "refund already APPROVED", 1)
    assert newest["event_type"] == "refund.status_changed" and newest["processed_at"]


def test_events_filter_by_status_and_paginate(anon_api, operator_api, merchant, refund,
                                              django_capture_on_commit_callbacks):
    received = [_receive(anon_api, merchant, refund, f"msg_{n}") for n in range(3)]  # callbacks not run
    with django_capture_on_commit_callbacks(execute=True):
        processed = _receive(anon_api, merchant, make_refund(plan=refund.plan, amount="5.00"), "msg_p")

    def ids(query):
        return [row["id"] for row in operator_api.get(f"/api/v1/webhook-events/{query}").json()["results"]]

    assert ids("?status=PROCESSED") == [str(processed.pk)]
    assert ids("?status=RECEIVED") == [str(e.pk) for e in reversed(received)]
    assert operator_api.get("/api/v1/webhook-events/?status=WHATEVER").status_code == 400
    page = operator_api.get("/api/v1/webhook-events/?limit=3").json()
    assert len(page["results"]) == 3 and page["next"]
    rest = operator_api.get(page["next"]).json()
    assert [row["id"] for row in rest["results"]] == [str(received[0].pk)] and rest["next"] is None


@pytest.mark.parametrize("role, expected", [("client", 403), ("merchant", 403), ("operator", 200)])
@pytest.mark.parametrize("endpoint", ["list", "retrieve"])
def test_webhook_events_role_matrix(anon_api, make_api, merchant, refund, role, expected, endpoint):
    event = _receive(anon_api, merchant, refund, "msg_role")
    api = make_api(role, merchant=merchant if role == "merchant" else None)
    url = "/api/v1/webhook-events/" + ("" if endpoint == "list" else f"{event.pk}/")
    r = api.get(url)
    assert r.status_code == expected
    if expected == 200:
        body = r.json()
        assert (body["results"][0] if endpoint == "list" else body)["id"] == str(event.pk)
    else:
        assert r.json()["code"] == "permission_denied"


SOME_EVENT_ID = "3f9a1c2e-0000-4000-8000-000000000001"


@pytest.mark.parametrize("url", ["/api/v1/webhook-events/", f"/api/v1/webhook-events/{SOME_EVENT_ID}/"])
def test_webhook_events_need_a_key(anon_api, url):
    r = anon_api.get(url)
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"


def test_refund_approved_by_service_then_webhook_is_ignored_not_failed(anon_api, merchant, refund,
                                                                       django_capture_on_commit_callbacks):
    refund_approve(refund=refund, decided_by="admin:1")
    with django_capture_on_commit_callbacks(execute=True):
        _receive(anon_api, merchant, refund, "msg_late")
    assert WebhookEvent.objects.get().status == EventStatus.IGNORED
