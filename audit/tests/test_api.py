"""GET /api/v1/audit-events/: operators only, oldest first, filters, actor and request id."""
import uuid

import pytest
from django.db import transaction

from audit.models import AuditEvent
from audit.services import StatusChange, status_changes_record
from bnpl.actor import ADMIN, WEBHOOK, acting_as
from ledger.tests.factories import make_payout

EVENT_FIELDS = {"id", "object_type", "object_id", "field", "old", "new", "actor", "request_id", "created_at"}


@pytest.mark.django_db
def test_an_api_action_is_recorded_with_the_key_name_and_request_id(operator_api):
    payout = make_payout()
    operator_api.post(f"/api/v1/payouts/{payout.pk}/mark-sent/", {"reference": "r"}, HTTP_X_REQUEST_ID="req-42")

    r = operator_api.get(f"/api/v1/audit-events/?object_id={payout.pk}")
    assert r.status_code == 200
    events = r.json()["results"]
    assert all(set(e) == EVENT_FIELDS for e in events)
    assert [(e["old"], e["new"]) for e in events] == [(None, "PENDING"), ("PENDING", "SENT")]
    assert events[1]["actor"] == {"type": "api_key", "name": "test operator"}
    assert events[1]["request_id"] == "req-42"
    assert events[0]["actor"]["type"] == "system" and events[0]["request_id"] == ""
    assert events[1]["object_type"] == "payout" and events[1]["field"] == "status"


@pytest.mark.django_db
def test_a_context_names_webhook_and_admin_actors():
    obj = uuid.uuid4()
    with transaction.atomic():
        with acting_as(WEBHOOK, "msg_1"):
            status_changes_record(changes=[StatusChange("refund", obj, "PENDING", "APPROVED")])
        with acting_as(ADMIN, "alice"):
            status_changes_record(changes=[StatusChange("refund", obj, "APPROVED", "APPROVED")])  # no change
            status_changes_record(changes=[StatusChange("plan", obj, "ACTIVE", "COMPLETED")])
    assert list(AuditEvent.objects.order_by("created_at", "id").values_list("actor_type", "actor_name", "new")) == [
        ("webhook", "msg_1", "APPROVED"), ("admin", "alice", "COMPLETED")]


@pytest.mark.django_db
def test_oldest_first_paginated_and_filtered(operator_api):
    objects = [uuid.uuid4() for _ in range(3)]
    with transaction.atomic():
        for step in range(3):
            for obj in objects:
                status_changes_record(changes=[StatusChange("installment", obj, f"S{step}", f"S{step + 1}")])
    r = operator_api.get("/api/v1/audit-events/?limit=4")
    page = r.json()
    assert len(page["results"]) == 4 and page["next"]
    seen = page["results"]
    while page["next"]:
        page = operator_api.get(page["next"]).json()
        seen += page["results"]
    stamps = [(e["created_at"], e["id"]) for e in seen]
    assert len(seen) == 9 and stamps == sorted(stamps)
    only = operator_api.get(f"/api/v1/audit-events/?object_id={objects[1]}").json()["results"]
    assert [e["new"] for e in only] == ["S1", "S2", "S3"]
    assert operator_api.get("/api/v1/audit-events/?object_type=plan").json()["results"] == []
    assert len(operator_api.get("/api/v1/audit-events/?object_type=installment").json()["results"]) == 9
    for bad in ("object_type=thing", "object_id=nope"):
        r = operator_api.get(f"/api/v1/audit-events/?{bad}")
        assert r.status_code == 400 and r.json()["code"] == "validation_error"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["client", "merchant"])
def test_only_operators_read_the_history(make_api, merchant, role):
    api = make_api(role, merchant=merchant if role == "merchant" else None)
    r = api.get("/api/v1/audit-events/")
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"


def test_anonymous_is_401(anon_api, db):
    assert anon_api.get("/api/v1/audit-events/").status_code == 401
