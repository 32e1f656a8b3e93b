"""Delivery to a real HTTP receiver on 127.0.0.1 (in this process): signatures, retries, failures,
and who receives what. The SSRF rules are off here (``local_delivery``); test_ssrf.py has them on."""
import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bnpl.dates import business_today
from bnpl.money import to_minor
from debt.services import repayment_apply
from events import delivery, services
from events.models import Audience, DeliveryStatus, EndpointStatus, Event, WebhookDelivery, WebhookEndpoint
from events.tests.receiver import Receiver
from merchants.tests.factories import MerchantFactory
from plans.tests.factories import make_plan
from refunds.services import refund_approve, refund_cancel, refund_reject
from refunds.tests.factories import make_refund
from users.tests.factories import CustomerFactory

pytestmark = pytest.mark.usefixtures("local_delivery")


def endpoint_for(url, *, merchant=None, event_types=None) -> WebhookEndpoint:
    audience = Audience.MERCHANT if merchant is not None else Audience.CLIENT
    return services.webhook_endpoint_create(url=url, audience=audience, merchant=merchant, event_types=event_types)


def pump_until(predicate, *, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        services.events_pump(budget_seconds=2)
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError("not delivered in time")
        time.sleep(interval)


def test_an_event_arrives_signed_and_verifiable_with_standardwebhooks(db, receiver):
    merchant = MerchantFactory()
    endpoint = endpoint_for(receiver.url, merchant=merchant)
    plan = make_plan(merchant=merchant)
    pump_until(lambda: len(receiver.requests) == 1)

    request = receiver.requests[0]
    event = Event.objects.get(type="plan.created")
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload == {"id": event.pk, "type": "plan.created", "created_at": payload["created_at"],
                       "data": json.loads(json.dumps(event.data))}
    assert request.headers["webhook-id"] == event.pk and event.pk.startswith("evt_")
    assert payload["data"]["id"] == str(plan.pk) and payload["data"]["status"] == "ACTIVE"
    assert len(payload["data"]["installments"]) == 3
    assert request.headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):  # another secret does not verify
        Webhook("whsec_" + "A" * 44).verify(request.body, request.headers)
    row = WebhookDelivery.objects.get()
    assert (row.status, row.attempt, row.status_code) == (DeliveryStatus.SUCCEEDED, 1, 200)
    assert row.response_body == "ok" and row.duration_ms is not None and row.next_attempt_at is None


def test_a_rotated_secret_signs_with_both_for_a_day(db, receiver):
    merchant = MerchantFactory()
    endpoint = endpoint_for(receiver.url, merchant=merchant)
    old = endpoint.secret
    endpoint = services.webhook_endpoint_rotate_secret(endpoint=endpoint)
    assert endpoint.secret != old and endpoint.secret.startswith("whsec_")
    make_plan(merchant=merchant)
    pump_until(lambda: len(receiver.requests) == 1)
    request = receiver.requests[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(endpoint.secret).verify(request.body, request.headers)
    Webhook(old).verify(request.body, request.headers)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret_rotated_at=timezone.now() - timedelta(hours=25))
    make_plan(merchant=merchant)
    pump_until(lambda: len(receiver.requests) == 2)
    assert len(receiver.requests[1].headers["webhook-signature"].split(" ")) == 1


def test_500_twice_then_200_is_delivered_on_the_third_attempt_at_the_scheduled_delays(db, receiver, settings):
    settings.BNPL_WEBHOOK_RETRY_SCHEDULE = "1s,1s,1h"
    receiver.script = [500, 500]
    merchant = MerchantFactory()
    endpoint = endpoint_for(receiver.url, merchant=merchant)
    make_plan(merchant=merchant)
    pump_until(lambda: len(receiver.requests) == 3, timeout=15)

    rows = list(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("attempt"))
    assert [(r.attempt, r.status, r.status_code) for r in rows] == [
        (1, DeliveryStatus.RETRYING, 500), (2, DeliveryStatus.RETRYING, 500), (3, DeliveryStatus.SUCCEEDED, 200)]
    for failed, following in zip(rows, rows[1:], strict=False):
        wait = (failed.next_attempt_at - failed.attempted_at).total_seconds()
        assert 0.9 <= wait <= 1.1  # 1 s ± 10 %
        assert following.created_at == failed.attempted_at  # scheduled when the failure was recorded
    gaps = [b.at - a.at for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    assert all(0.85 <= gap <= 1.6 for gap in gaps), gaps  # the delay, plus at most a poll interval
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1  # the same event each time
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since is None  # healthy again


def test_the_default_schedule_with_ten_percent_jitter():
    settings_schedule = delivery.parse_schedule("5s,5m,30m,2h,5h,10h,10h")
    assert settings_schedule == (5, 300, 1800, 7200, 18000, 36000, 36000)
    for attempt, base in enumerate(settings_schedule, start=1):
        waits = [delivery.retry_delay(attempt).total_seconds() for _ in range(50)]
        assert all(base * 0.9 <= w <= base * 1.1 for w in waits)
        assert len(set(waits)) > 1  # jittered
    assert delivery.retry_delay(len(settings_schedule) + 1) is None
    assert delivery.max_attempts() == 8


def test_after_the_last_attempt_the_delivery_is_failed(db, settings):
    settings.BNPL_WEBHOOK_RETRY_SCHEDULE = "0,0"
    with Receiver(default=503) as receiver:
        merchant = MerchantFactory()
        endpoint = endpoint_for(receiver.url, merchant=merchant)
        make_plan(merchant=merchant)
        pump_until(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED).exists())
    rows = list(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("attempt"))
    assert [(r.attempt, r.status) for r in rows] == [
        (1, DeliveryStatus.RETRYING), (2, DeliveryStatus.RETRYING), (3, DeliveryStatus.FAILED)]
    assert len(receiver.requests) == 3
    assert rows[-1].next_attempt_at is None and rows[-1].error == "http_503"
    services.events_pump(budget_seconds=1)
    assert len(receiver.requests) == 3  # nothing more


def test_a_receiver_that_times_out(db, receiver, settings):
    settings.BNPL_WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.script = [{"sleep": 3}]
    merchant = MerchantFactory()
    endpoint_for(receiver.url, merchant=merchant)
    make_plan(merchant=merchant)
    started = time.monotonic()
    services.events_pump(budget_seconds=1)
    assert time.monotonic() - started < 2.5
    row = WebhookDelivery.objects.get(attempt=1)
    assert (row.status, row.error, row.status_code) == (DeliveryStatus.RETRYING, "timeout", None)
    assert 900 <= row.duration_ms < 2000
    assert WebhookDelivery.objects.get(attempt=2).status == DeliveryStatus.PENDING


def test_a_receiver_dripping_its_answer_is_cut_at_the_total_deadline(db, receiver, settings):
    settings.BNPL_WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.script = [{"drip": 0.2}]  # each byte well within a per-read timeout
    merchant = MerchantFactory()
    endpoint_for(receiver.url, merchant=merchant)
    make_plan(merchant=merchant)
    started = time.monotonic()
    services.events_pump(budget_seconds=1)
    assert time.monotonic() - started < 2.5
    row = WebhookDelivery.objects.get(attempt=1)
    assert row.status == DeliveryStatus.RETRYING and row.error == "timeout"


def test_a_redirect_is_never_followed(db, receiver):
    with Receiver() as elsewhere:
        receiver.script = [{"status": 302, "headers": {"Location": elsewhere.url}}]
        merchant = MerchantFactory()
        endpoint_for(receiver.url, merchant=merchant)
        make_plan(merchant=merchant)
        services.events_pump(budget_seconds=1)
        assert elsewhere.requests == []
    row = WebhookDelivery.objects.get(attempt=1)
    assert (row.status, row.status_code, row.error) == (DeliveryStatus.RETRYING, 302, "redirect_not_followed")


def test_a_receiver_that_is_down(db):
    with Receiver() as gone:
        url = gone.url
    merchant = MerchantFactory()
    endpoint = endpoint_for(url, merchant=merchant)
    make_plan(merchant=merchant)
    services.events_pump(budget_seconds=1)
    row = WebhookDelivery.objects.get(attempt=1)
    assert row.status == DeliveryStatus.RETRYING and row.error == "connection_refused"
    assert row.status_code is None
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since is not None


def test_at_most_1_kib_of_the_answer_is_kept(db, receiver):
    receiver.default = {"status": 200, "body": "é".encode() * 4000}
    merchant = MerchantFactory()
    endpoint_for(receiver.url, merchant=merchant)
    make_plan(merchant=merchant)
    pump_until(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).exists())
    body = WebhookDelivery.objects.get().response_body
    assert len(body.encode()) <= 1024 + 3 and body.startswith("é" * 100)


def test_an_endpoint_failing_for_five_days_is_disabled(db, receiver):
    receiver.default = 500
    merchant = MerchantFactory()
    endpoint = endpoint_for(receiver.url, merchant=merchant)
    make_plan(merchant=merchant)
    services.events_pump(budget_seconds=1)
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.ENABLED and endpoint.failing_since is not None
    # Four days of failures: still enabled. Five: disabled, and nothing pending is left.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=4))
    WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=timezone.now())
    services.events_pump(budget_seconds=1)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).status == EndpointStatus.ENABLED
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=5, seconds=1))
    WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=timezone.now())
    services.events_pump(budget_seconds=1)
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.DISABLED and endpoint.disabled_at is not None
    assert not WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).exists()
    sent = len(receiver.requests)
    make_plan(merchant=merchant)
    services.events_pump(budget_seconds=1)
    assert len(receiver.requests) == sent  # a disabled endpoint gets nothing


def test_a_success_clears_the_failure_streak(db, receiver):
    receiver.script = [500]
    merchant = MerchantFactory()
    endpoint = endpoint_for(receiver.url, merchant=merchant)
    make_plan(merchant=merchant)
    services.events_pump(budget_seconds=1)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since is not None
    make_plan(merchant=merchant)
    pump_until(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).exists())
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since is None


def test_a_merchant_never_receives_another_merchants_event_nor_user_status(db):
    with Receiver() as mine, Receiver() as theirs, Receiver() as provider:
        merchant, other = MerchantFactory(), MerchantFactory()
        endpoint_for(mine.url, merchant=merchant)
        endpoint_for(theirs.url, merchant=other)
        endpoint_for(provider.url)
        user = CustomerFactory()
        # Back-dated: installments already overdue -> installment.overdue and user.status_changed too.
        plan = make_plan(user=user, merchant=merchant, start_date=business_today() - timedelta(days=40))
        refund = make_refund(plan=plan, amount="10.00")
        refund_approve(refund=refund, decided_by="test")
        repayment_apply(user=user, amount=to_minor(Decimal("100.00")))
        expected = set(Event.objects.values_list("id", flat=True))
        pump_until(lambda: len(provider.requests) == len(expected) and len(mine.requests) > 0)
        time.sleep(0.1)
        services.events_pump(budget_seconds=1)

        types = {e["type"] for e in provider.bodies()}
        assert {"plan.created", "installment.overdue", "user.status_changed", "refund.created", "refund.approved",
                "repayment.created"} <= types
        assert {e["id"] for e in provider.bodies()} == expected  # client apps: everything
        assert theirs.requests == []
        mine_types = [e["type"] for e in mine.bodies()]
        assert "user.status_changed" not in mine_types and "repayment.created" not in mine_types
        assert {"plan.created", "installment.overdue", "refund.created", "refund.approved"} <= set(mine_types)
        assert all(e["data"].get("merchant_id", str(merchant.pk)) == str(merchant.pk)
                   for e in mine.bodies() if e["type"].startswith(("plan.", "refund.")))


def test_event_types_filter(db, receiver):
    merchant = MerchantFactory()
    endpoint_for(receiver.url, merchant=merchant, event_types=["refund.created"])
    plan = make_plan(merchant=merchant)
    make_refund(plan=plan)
    pump_until(lambda: len(receiver.requests) == 1)
    services.events_pump(budget_seconds=1)
    assert [e["type"] for e in receiver.bodies()] == ["refund.created"]


@pytest.mark.parametrize("decide, event_type", [(refund_reject, "refund.rejected"),
                                                (refund_cancel, "refund.cancelled")])
def test_refund_decisions_are_events(db, decide, event_type):
    plan = make_plan()
    refund = make_refund(plan=plan)
    decide(refund=refund, decided_by="test")
    event = Event.objects.get(type=event_type)
    assert event.data["id"] == str(refund.pk) and event.merchant_id == plan.merchant_id
    assert event.data["status"] == event_type.split(".")[1].upper()


def test_paying_a_plan_off_is_installment_paid_and_plan_completed(db):
    user = CustomerFactory()
    plan = make_plan(user=user)
    repayment_apply(user=user, amount=to_minor(Decimal("1000.00")))
    assert Event.objects.filter(type="installment.paid", merchant_id=plan.merchant_id).count() == 3
    completed = Event.objects.get(type="plan.completed")
    assert completed.data["status"] == "COMPLETED" and completed.data["outstanding_amount"] == "0.00"
    repayment = Event.objects.get(type="repayment.created")
    assert repayment.merchant_id is None and len(repayment.data["allocations"]) == 3


def test_an_event_is_part_of_its_change_and_rolls_back_with_it(db):
    from django.db import transaction

    user = CustomerFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        make_plan(user=user)
        assert Event.objects.filter(type="plan.created").exists()
        raise RuntimeError("the change fails after the event was written")
    assert not Event.objects.exists()


def test_a_stale_claim_records_nothing(db, receiver):
    merchant = MerchantFactory()
    endpoint_for(receiver.url, merchant=merchant)
    make_plan(merchant=merchant)
    services.events_dispatch()
    claim, rows = services.deliveries_claim(limit=10)
    assert len(rows) == 1
    # The lease ran out (the worker was presumed dead) and another worker claimed and delivered it.
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    assert services.deliveries_deliver_due() == 1
    late = {rows[0].pk: delivery.Result(ok=False, error="timeout")}
    assert services.deliveries_record(claim=claim, deliveries=rows, results=late) == {
        "succeeded": 0, "retrying": 0, "failed": 0}
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == [DeliveryStatus.SUCCEEDED]


def test_redeliver_queues_a_new_first_attempt(db, receiver):
    merchant = MerchantFactory()
    endpoint_for(receiver.url, merchant=merchant)
    make_plan(merchant=merchant)
    pump_until(lambda: len(receiver.requests) == 1)
    event = Event.objects.get()
    assert services.event_redeliver(event=event) == 1
    pump_until(lambda: len(receiver.requests) == 2)
    assert [r.headers["webhook-id"] for r in receiver.requests] == [event.pk, event.pk]
    assert WebhookDelivery.objects.filter(attempt=1, status=DeliveryStatus.SUCCEEDED).count() == 2


def test_pruning_is_set_based_and_keeps_young_events(db, receiver, django_assert_max_num_queries):
    merchant = MerchantFactory()
    endpoint_for(receiver.url, merchant=merchant)
    for _ in range(3):
        make_plan(merchant=merchant)
    pump_until(lambda: len(receiver.requests) == 3)
    Event.objects.filter(pk__in=list(Event.objects.values_list("pk", flat=True)[:2])).update(
        created_at=timezone.now() - timedelta(days=31))
    with django_assert_max_num_queries(8):
        counts = services.events_prune()
    assert counts == {"events": 2, "deliveries": 2}
    assert Event.objects.count() == 1 and WebhookDelivery.objects.count() == 1


def test_outbox_stats(db, receiver):
    from events.selectors import outbox_stats

    receiver.default = 500
    merchant = MerchantFactory()
    endpoint_for(receiver.url, merchant=merchant)
    make_plan(merchant=merchant)
    stats = outbox_stats()
    assert stats["undispatched_events"] == 1 and stats["oldest_undelivered_age_seconds"] >= 0
    services.events_pump(budget_seconds=1)
    stats = outbox_stats()
    assert stats["undispatched_events"] == 0 and stats["pending_deliveries"] == 1
    assert stats["retrying_deliveries"] == 1 and stats["failing_endpoints"] == 1
    assert stats["oldest_undelivered_age_seconds"] is not None


def test_connections_are_kept_alive_and_a_stale_one_is_replaced(db, receiver, settings):
    settings.BNPL_WEBHOOK_DELIVERY_THREADS = 1  # one thread, so one idle connection to reuse
    services._pool = None
    merchant = MerchantFactory()
    endpoint_for(receiver.url, merchant=merchant)
    receiver.script = [200, {"status": 200, "hang_up": True}]
    for n in (1, 2, 3):
        make_plan(merchant=merchant)
        pump_until(lambda n=n: len(receiver.requests) == n)
    ports = [r.client_port for r in receiver.requests]
    assert ports[0] == ports[1]  # the second rode the first one's connection
    assert ports[2] != ports[1]  # the receiver hung up after the second: a new connection, no failure
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}
    services._pool = None
