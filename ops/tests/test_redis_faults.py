"""Fault tests: Redis down at start, and Redis down while serving (API.md §9-§10 v1.1, docs/FAULTS.md).

Real processes: a private redis-server on a free port (stopped and started by the test), a
gunicorn and a Celery worker with the production settings on the test database. The service
must stay ready, say ``degraded``, keep answering webhooks 202 with nothing lost, and recover
by itself when Redis returns: no process is restarted.
"""
import json
import time
import urllib.error
import urllib.request

import pytest

from bnpl.models import Role
from bnpl.services import api_key_create
from bnpl.testing.db import current_database_url
from bnpl.testing.processes import RedisServer, celery_broker, gunicorn_server, owned, start_celery_worker, wait_until
from plans.tests.factories import make_plan
from refunds.models import RefundStatus
from refunds.tests.factories import make_refund
from webhooks.models import EventStatus, WebhookEvent
from webhooks.tasks import redrive_pending_events
from webhooks.tests.factories import signed_headers, webhook_body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ANSWER_WITHIN_S = 1.5
# The page reuses a check's result for up to this long; short here so recovery shows quickly.
SERVER_ENV = {"WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "4", "BNPL_HEALTH_CACHE_SECONDS": "1"}


def _request(url: str, *, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {},  # noqa: S310 - loopback
                                     method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _health(base: str, operator_key: str) -> dict:
    status, _, body = _request(f"{base}/api/v1/health/?format=json",
                               headers={"Authorization": f"Bearer {operator_key}"})
    assert status == 200, body
    return json.loads(body)


def _send_webhook(base: str, merchant, refund, msg_id: str) -> int:
    body = webhook_body(merchant=merchant, refund=refund, status=RefundStatus.REJECTED)
    headers = {key.removeprefix("HTTP_").replace("_", "-").lower(): value
               for key, value in signed_headers(secret=merchant.webhook_secret, body=body, msg_id=msg_id).items()}
    started = time.monotonic()
    status, _, _ = _request(f"{base}/webhook/refund-status/", data=body,
                            headers={**headers, "Content-Type": "application/json"})
    assert time.monotonic() - started < ANSWER_WITHIN_S
    return status


def _fail_open(base: str, component: str) -> float:
    _, _, text = _request(f"{base}/metrics")
    prefix = f'bnpl_redis_fail_open_total{{component="{component}"}} '
    return next((float(line.removeprefix(prefix)) for line in text.decode().splitlines()
                 if line.startswith(prefix)), 0.0)


def _drained() -> bool:
    redrive_pending_events(min_age_seconds=0)  # one beat tick of the re-drive, without its age delay
    return not WebhookEvent.objects.filter(status=EventStatus.RECEIVED).exists()


def test_redis_down_at_start_is_degraded_and_recovers_without_a_restart(merchant):
    refund = make_refund(plan=make_plan(merchant=merchant, total_amount="900.00"), amount="100.00")
    _, operator_key = api_key_create(role=Role.OPERATOR, name="faults operator")
    redis = RedisServer()  # its port is chosen, nothing listens there yet
    database_url = current_database_url(application_name="faults-redis-start")
    try:
        with gunicorn_server(database_url=database_url, redis_url=redis.url, **SERVER_ENV) as base:
            # Started while Redis is down: ready, degraded, never the embedded mode.
            assert _request(f"{base}/api/v1/health/ready/")[0] == 200
            page = _health(base, operator_key)
            assert page["status"] == "degraded"
            assert page["checks"]["redis"]["status"] == "down"  # not "disabled": it was configured
            assert page["checks"]["celery"]["status"] == "down"
            # The webhook is stored and answered; it is not applied in-process (no eager fallback).
            assert _send_webhook(base, merchant, refund, "start-1") == 202
            event = WebhookEvent.objects.get(webhook_id="start-1")
            assert (event.status, event.attempts) == (EventStatus.RECEIVED, 0)
            assert _fail_open(base, "task_publish") >= 1

            # Redis returns, a worker starts: the same gunicorn turns ok by itself.
            redis.start()
            with celery_broker(redis.url), owned(start_celery_worker(
                    broker_url=redis.url, database_url=current_database_url(application_name="faults-worker"))):
                wait_until(lambda: {c["status"] for n, c in _health(base, operator_key)["checks"].items()
                                    if n in ("redis", "celery")} == {"ok"},
                           timeout=30, interval=0.5, message="redis and celery ok again")
                # Nothing lost: the re-drive gets the stored event applied, once.
                wait_until(_drained, timeout=30, interval=0.5, message="the event applied")
                assert _send_webhook(base, merchant, refund, "start-1") == 200  # a redelivery: duplicate
    finally:
        redis.close()
    event.refresh_from_db()
    refund.refresh_from_db()
    assert (event.status, event.attempts) == (EventStatus.PROCESSED, 1)
    assert refund.status == RefundStatus.REJECTED


def test_redis_down_while_serving_stays_ready_answers_webhooks_and_loses_nothing(merchant):
    plan = make_plan(merchant=merchant, total_amount="900.00")
    refunds = [make_refund(plan=plan, amount=f"{10 + i}.00") for i in range(3)]
    _, operator_key = api_key_create(role=Role.OPERATOR, name="faults operator")
    _, client_key = api_key_create(role=Role.CLIENT, name="faults client")
    redis = RedisServer()
    redis.start()
    try:
        with celery_broker(redis.url), \
                gunicorn_server(database_url=current_database_url(application_name="faults-redis-serving"),
                                redis_url=redis.url, **SERVER_ENV) as base, \
                owned(start_celery_worker(broker_url=redis.url,
                                          database_url=current_database_url(application_name="faults-worker"))):
            wait_until(lambda: _health(base, operator_key)["checks"]["celery"]["status"] == "ok", timeout=30,
                       interval=0.5, message="a worker answering")
            assert _send_webhook(base, merchant, refunds[0], "serving-0") == 202

            redis.kill()  # SIGKILL, nothing persisted
            ready = _request(f"{base}/api/v1/health/ready/")
            assert ready[0] == 200, ready
            wait_until(lambda: _health(base, operator_key)["status"] == "degraded", timeout=10, interval=0.3,
                       message="degraded")
            assert _health(base, operator_key)["checks"]["redis"]["status"] == "down"
            # The API answers (the rate limit fails open, counted) and webhooks are still accepted.
            users = _request(f"{base}/api/v1/users/", headers={"Authorization": f"Bearer {client_key}"})
            assert users[0] == 200
            assert _fail_open(base, "rate_limit") >= 1
            assert _send_webhook(base, merchant, refunds[1], "serving-1") == 202
            assert _send_webhook(base, merchant, refunds[2], "serving-2") == 202
            assert _fail_open(base, "task_publish") >= 1
            outage = WebhookEvent.objects.filter(webhook_id__in=["serving-1", "serving-2"])
            assert set(outage.values_list("status", flat=True)) == {EventStatus.RECEIVED}

            redis.start()  # empty, on the same port
            wait_until(lambda: _health(base, operator_key)["checks"]["redis"]["status"] == "ok", timeout=20,
                       interval=0.5, message="redis ok again, no restart")
            wait_until(_drained, timeout=40, interval=0.5, message="every event applied")
    finally:
        redis.close()
    events = WebhookEvent.objects.order_by("webhook_id")
    assert [(e.webhook_id, e.status) for e in events] == [(f"serving-{i}", EventStatus.PROCESSED) for i in range(3)]
    for refund in refunds:
        refund.refresh_from_db()
        assert refund.status == RefundStatus.REJECTED
