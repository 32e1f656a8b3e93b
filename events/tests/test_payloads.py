"""An event carries its resource exactly as the API shows it at that moment (API.md §14), and a
delivery's body is the event exactly as ``GET /events/{id}/`` shows it.

The representers are built once per type and walk the serializers' fields once (``events.types
.compiled``); services hand them the objects they already hold instead of reading them back. Each
event here is compared, whole, with the API's own answer read right after the change.
"""
import json
from datetime import timedelta

import pytest
from django.test import override_settings

from bnpl.dates import business_today
from bnpl.models import Role
from conftest import _client_for
from debt.services import sweep_overdue
from events.models import Event
from events.services import _event_bodies
from plans.models import Installment
from users.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _one(event_type: str) -> dict:
    return Event.objects.filter(type=event_type).latest("id").data


def _installment_as_listed(plan: dict, installment_id: str) -> dict:
    item = next(i for i in plan["installments"] if i["id"] == installment_id)
    return {**item, "plan_id": plan["id"], "user_id": plan["user_id"]}


def test_each_event_carries_its_resource_as_the_api_shows_it(client_api, operator_api, merchant):
    merchant_api = _client_for(Role.MERCHANT, merchant=merchant)
    user = CustomerFactory()

    # plan.created (a client's plan, installments just written)
    r = client_api.post("/api/v1/plans/", {"user_id": str(user.pk), "merchant_id": str(merchant.pk),
                                           "total_amount": "1200.00", "installment_count": 12})
    assert r.status_code == 201, r.content
    plan = client_api.get(f"/api/v1/plans/{r.json()['id']}/").json()
    assert _one("plan.created") == plan

    # plan.created (a merchant's checkout, no installments yet), plan.confirmed, plan.declined
    for action in ("confirm", "decline"):
        r = merchant_api.post("/api/v1/plans/", {"user_id": str(user.pk), "merchant_id": str(merchant.pk),
                                                 "total_amount": "300.00", "installment_count": 3})
        assert r.status_code == 201, r.content
        checkout_id = r.json()["id"]
        assert _one("plan.created") == client_api.get(f"/api/v1/plans/{checkout_id}/").json()
        assert client_api.post(f"/api/v1/plans/{checkout_id}/{action}/").status_code == 200
        assert _one({"confirm": "plan.confirmed", "decline": "plan.declined"}[action]) == client_api.get(
            f"/api/v1/plans/{checkout_id}/").json()

    # refund.created, refund.approved (applied to the plan: allocations), refund.rejected, refund.cancelled
    for decide, by in (("approve", merchant_api), ("reject", merchant_api), ("cancel", client_api)):
        r = client_api.post("/api/v1/refunds/", {"plan_id": plan["id"], "transaction_id": f"t-{decide}",
                                                 "amount": "10.00"})
        assert r.status_code == 201, r.content
        refund_id = r.json()["id"]
        assert _one("refund.created") == client_api.get(f"/api/v1/refunds/{refund_id}/").json()
        assert by.post(f"/api/v1/refunds/{refund_id}/{decide}/", {}).status_code == 200
        shown = client_api.get(f"/api/v1/refunds/{refund_id}/").json()
        assert _one({"approve": "refund.approved", "reject": "refund.rejected",
                     "cancel": "refund.cancelled"}[decide]) == shown
    assert shown["status"] == "CANCELLED"

    # installment.paid (each of them), plan.completed, repayment.created: one repayment of everything
    open_ids = [i["id"] for i in client_api.get(f"/api/v1/plans/{plan['id']}/").json()["installments"]
                if i["outstanding_amount"] != "0.00"]
    r = client_api.post(f"/api/v1/debt/{user.pk}/", {"installment_ids": open_ids})
    assert r.status_code == 201, r.content
    plan = client_api.get(f"/api/v1/plans/{plan['id']}/").json()
    assert [e.data for e in Event.objects.filter(type="plan.completed") if e.data["id"] == plan["id"]] == [plan]
    paid = [e.data for e in Event.objects.filter(type="installment.paid") if e.data["plan_id"] == plan["id"]]
    assert len(paid) == len(open_ids) >= 11
    for data in paid:
        assert data == _installment_as_listed(plan, data["id"])
    repayments = client_api.get(f"/api/v1/debt/{user.pk}/repayments/").json()["results"]
    assert _one("repayment.created") == next(x for x in repayments if x["id"] == r.json()["id"])

    # repayment.reversed: as the reversal's answer shows it
    reversed_ = operator_api.post(f"/api/v1/repayments/{r.json()['id']}/reverse/", {"reason": "chargeback"})
    assert reversed_.status_code == 201, reversed_.content
    assert _one("repayment.reversed") == reversed_.json()


def _swept_overdue(client_api, merchant):
    user = CustomerFactory()
    r = client_api.post("/api/v1/plans/", {"user_id": str(user.pk), "merchant_id": str(merchant.pk),
                                           "total_amount": "300.00", "installment_count": 3})
    assert r.status_code == 201, r.content
    first = Installment.objects.get(plan_id=r.json()["id"], sequence=1)
    Installment.objects.filter(pk=first.pk).update(due_date=business_today() - timedelta(days=5))
    sweep_overdue()
    return user, first, client_api.get(f"/api/v1/plans/{r.json()['id']}/").json()


def test_installment_overdue_is_the_installment_as_its_plan_lists_it(client_api, merchant):
    _, first, plan = _swept_overdue(client_api, merchant)
    assert _one("installment.overdue") == _installment_as_listed(plan, str(first.pk))


def test_user_status_changed_is_the_user_as_shown(client_api, merchant):
    user, _, _ = _swept_overdue(client_api, merchant)
    assert _one("user.status_changed") == client_api.get(f"/api/v1/users/{user.pk}/").json()


def test_payout_event_is_the_payout_as_shown(operator_api, merchant):
    from ledger.tests.factories import make_payout

    payout = make_payout(amount=700, merchant_id=merchant.pk)
    assert operator_api.post(f"/api/v1/payouts/{payout.pk}/mark-sent/", {"reference": "B-1"}).status_code == 200
    assert _one("payout.status_changed") == operator_api.get(f"/api/v1/payouts/{payout.pk}/").json()


@override_settings(DEBUG=False)
def test_a_delivery_body_is_the_event_as_get_shows_it(client_api, merchant):
    user = CustomerFactory(full_name="Ўткир Ёқубов")  # not ASCII: the body is UTF-8, unescaped
    r = client_api.post("/api/v1/plans/", {"user_id": str(user.pk), "merchant_id": str(merchant.pk),
                                           "total_amount": "300.00", "installment_count": 3})
    assert r.status_code == 201, r.content
    sweep_overdue()
    events = list(Event.objects.all())
    bodies = _event_bodies([e.pk for e in events])
    assert set(bodies) == {e.pk for e in events}
    for event in events:
        shown = client_api.get(f"/api/v1/events/{event.pk}/").json()
        assert json.loads(bodies[event.pk]) == shown
        assert list(json.loads(bodies[event.pk])) == ["id", "type", "created_at", "data"]
