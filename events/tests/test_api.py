"""The events and webhook-endpoints resources over HTTP, with API.md §14's visibility."""
from datetime import timedelta

import pytest

from bnpl.dates import business_today
from bnpl.models import Role
from conftest import _client_for
from events import services
from events.models import DeliveryStatus, EndpointStatus, Event, WebhookDelivery, WebhookEndpoint
from merchants.tests.factories import MerchantFactory
from plans.tests.factories import make_plan
from refunds.tests.factories import make_refund

URL = "/api/v1/webhook-endpoints/"
EVENTS = "/api/v1/events/"
PUBLIC = "93.184.216.34"


@pytest.fixture(autouse=True)
def public_names(resolver):
    resolver["hooks.shop.example"] = PUBLIC
    return resolver


HOOK = "https://hooks.shop.example/in"


def test_a_merchant_creates_an_endpoint_and_sees_its_secret_once(merchant_api, merchant):
    r = merchant_api.post(URL, {"url": HOOK, "description": "orders"})
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["secret"].startswith("whsec_") and body["merchant_id"] == str(merchant.pk)
    assert body["audience"] == "merchant" and body["event_types"] == ["*"] and body["status"] == "ENABLED"
    detail = merchant_api.get(f"{URL}{body['id']}/").json()
    assert "secret" not in detail and detail["url"] == HOOK
    assert "secret" not in merchant_api.get(URL).json()["results"][0]
    # Encrypted at rest.
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM events_webhookendpoint")
        assert body["secret"] not in cursor.fetchone()[0]


def test_rotate_secret_shows_a_new_one(merchant_api):
    created = merchant_api.post(URL, {"url": HOOK}).json()
    r = merchant_api.post(f"{URL}{created['id']}/rotate-secret/")
    assert r.status_code == 200 and r.json()["secret"].startswith("whsec_")
    assert r.json()["secret"] != created["secret"]
    assert WebhookEndpoint.objects.get().secret == r.json()["secret"]


def test_an_operator_creates_for_any_merchant_or_for_the_client_apps(operator_api, merchant):
    r = operator_api.post(URL, {"url": HOOK, "merchant_id": str(merchant.pk), "event_types": ["refund.created"]})
    assert r.status_code == 201 and r.json()["event_types"] == ["refund.created"]
    r = operator_api.post(URL, {"url": HOOK, "audience": "client", "event_types": ["user.status_changed"]})
    assert r.status_code == 201 and r.json()["merchant_id"] is None and r.json()["audience"] == "client"
    assert operator_api.post(URL, {"url": HOOK}).json()["errors"][0]["code"] == "required"
    r = operator_api.post(URL, {"url": HOOK, "audience": "client", "merchant_id": str(merchant.pk)})
    assert r.status_code == 400
    r = operator_api.post(URL, {"url": HOOK, "merchant_id": "7b1e6f57-0000-4000-8000-000000000000"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "does_not_exist"


def test_a_merchant_may_not_create_for_the_client_apps_or_another_merchant(merchant_api):
    assert merchant_api.post(URL, {"url": HOOK, "audience": "client"}).status_code == 403
    other = MerchantFactory()
    r = merchant_api.post(URL, {"url": HOOK, "merchant_id": str(other.pk)})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "does_not_exist"
    assert not WebhookEndpoint.objects.exists()


def test_client_apps_do_not_manage_endpoints(client_api):
    assert client_api.post(URL, {"url": HOOK}).status_code == 403
    assert client_api.get(URL).status_code == 403


@pytest.mark.parametrize("event_types", [["plan.exploded"], [], ["user.status_changed"], "plan.created", [1]])
def test_event_types_must_be_known_and_visible(merchant_api, event_types):
    r = merchant_api.post(URL, {"url": HOOK, "event_types": event_types})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"].startswith("event_types")


def test_endpoints_of_another_merchant_are_invisible(merchant_api, operator_api):
    other = MerchantFactory()
    theirs = operator_api.post(URL, {"url": HOOK, "merchant_id": str(other.pk)}).json()
    mine = merchant_api.post(URL, {"url": HOOK}).json()
    assert [e["id"] for e in merchant_api.get(URL).json()["results"]] == [mine["id"]]
    for method, path in [("get", f"{URL}{theirs['id']}/"), ("delete", f"{URL}{theirs['id']}/"),
                         ("post", f"{URL}{theirs['id']}/rotate-secret/"), ("get", f"{URL}{theirs['id']}/deliveries/")]:
        assert getattr(merchant_api, method)(path).status_code == 404
    assert {e["id"] for e in operator_api.get(URL).json()["results"]} == {mine["id"], theirs["id"]}
    assert WebhookEndpoint.objects.get(pk=theirs["id"]).status == EndpointStatus.ENABLED


def test_delete_stops_deliveries(merchant_api, merchant):
    created = merchant_api.post(URL, {"url": HOOK}).json()
    make_plan(merchant=merchant)
    services.events_dispatch()
    assert merchant_api.delete(f"{URL}{created['id']}/").status_code == 204
    assert merchant_api.get(f"{URL}{created['id']}/").status_code == 404
    assert merchant_api.get(URL).json()["results"] == []
    row = WebhookDelivery.objects.get()
    assert row.status == DeliveryStatus.FAILED and row.error == "endpoint_deleted"


def test_deliveries_list_attempts(merchant_api, merchant):
    created = merchant_api.post(URL, {"url": HOOK}).json()
    make_plan(merchant=merchant)
    services.events_dispatch()
    r = merchant_api.get(f"{URL}{created['id']}/deliveries/")
    assert r.status_code == 200
    [row] = r.json()["results"]
    assert row["event_type"] == "plan.created" and row["attempt"] == 1 and row["status"] == "PENDING"
    assert {"event_id", "status_code", "duration_ms", "error", "next_attempt_at", "response_body"} <= set(row)
    assert merchant_api.get(f"{URL}{created['id']}/deliveries/?status=NOPE").status_code == 400


def _world():
    merchant, other = MerchantFactory(), MerchantFactory()
    plan = make_plan(merchant=merchant, start_date=business_today() - timedelta(days=40))  # -> user.status_changed
    make_refund(plan=plan)
    make_plan(merchant=other)
    return merchant, other


def test_a_merchant_reads_only_its_own_events_and_never_user_status(db):
    merchant, other = _world()
    api = _client_for(Role.MERCHANT, merchant=merchant)
    seen = api.get(EVENTS + "?limit=200").json()["results"]
    assert seen and all(e["type"] != "user.status_changed" for e in seen)
    assert {e["id"] for e in seen} == set(Event.objects.filter(merchant=merchant).values_list("id", flat=True))
    theirs = Event.objects.filter(merchant=other).first()
    assert api.get(f"{EVENTS}{theirs.pk}/").status_code == 404
    # DEBT_USER (the back-dated plan), then NORMAL (the refund pauses collection, API.md §13).
    status_events = list(Event.objects.filter(type="user.status_changed").order_by("id"))
    assert [e.data["status"] for e in status_events] == ["DEBT_USER", "NORMAL"]
    for status_event in status_events:
        assert status_event.merchant_id is None
        assert api.get(f"{EVENTS}{status_event.pk}/").status_code == 404
    assert api.get(EVENTS + "?type=user.status_changed").json()["results"] == []


@pytest.mark.parametrize("role", [Role.CLIENT, Role.OPERATOR])
def test_client_apps_and_operators_read_every_event_oldest_first(db, role):
    _world()
    api = _client_for(role)
    ids = [e["id"] for e in api.get(EVENTS + "?limit=200").json()["results"]]
    assert ids == sorted(ids) and len(ids) == Event.objects.count()
    detail = api.get(f"{EVENTS}{ids[0]}/").json()
    assert set(detail) == {"id", "type", "created_at", "data"}


def test_polling_with_after_and_type(client_api):
    _world()
    ids = list(Event.objects.order_by("id").values_list("id", flat=True))
    r = client_api.get(f"{EVENTS}?after={ids[1]}&limit=200")
    assert [e["id"] for e in r.json()["results"]] == ids[2:]
    r = client_api.get(f"{EVENTS}?type=refund.created")
    assert [e["type"] for e in r.json()["results"]] == ["refund.created"]
    assert client_api.get(f"{EVENTS}?after=evt_nope").status_code == 400
    assert client_api.get(f"{EVENTS}?type=nope").status_code == 400
    page = client_api.get(f"{EVENTS}?limit=2").json()
    assert len(page["results"]) == 2 and page["next"]
    assert [e["id"] for e in client_api.get(page["next"]).json()["results"]][0] == ids[2]


def test_redeliver(operator_api, merchant):
    merchant_api = _client_for(Role.MERCHANT, merchant=merchant)
    merchant_api.post(URL, {"url": HOOK})
    operator_api.post(URL, {"url": HOOK, "audience": "client"})
    make_plan(merchant=merchant)
    event = Event.objects.get(type="plan.created")
    r = operator_api.post(f"{EVENTS}{event.pk}/redeliver/")
    assert r.status_code == 202 and r.json() == {"event_id": event.pk, "deliveries_queued": 2}
    r = merchant_api.post(f"{EVENTS}{event.pk}/redeliver/")
    assert r.status_code == 202 and r.json()["deliveries_queued"] == 1  # its own endpoint only
    assert WebhookDelivery.objects.count() == 3
    stranger = _client_for(Role.MERCHANT, merchant=MerchantFactory())
    assert stranger.post(f"{EVENTS}{event.pk}/redeliver/").status_code == 404
    assert _client_for(Role.CLIENT).post(f"{EVENTS}{event.pk}/redeliver/").status_code == 403
    assert WebhookDelivery.objects.count() == 3


def test_every_event_type_has_a_representer_or_is_a_pending_feature():
    from events.types import EVENT_TYPES, registered_object_types

    pending = {"repayment_reversal", "payout", "fee"}  # ledger and delinquency work registers these
    assert set(EVENT_TYPES.values()) - registered_object_types() <= pending
    assert len(EVENT_TYPES) == 16
