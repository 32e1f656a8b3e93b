"""The only writers of events, webhook endpoints and deliveries.

**Outbox.** ``event_record`` is called by the service that makes a change, inside that
service's transaction: the event commits with the change or not at all (never from a signal,
never after commit). Once committed, a Celery task is nudged (``transaction.on_commit``), but
nothing depends on that nudge or on a task surviving in the broker: every step is driven by
rows that beat re-drives every few seconds.

**Delivery.** ``events_dispatch`` turns undispatched events into one PENDING delivery row per
matching endpoint. ``deliveries_deliver_due`` claims due rows (``FOR UPDATE SKIP LOCKED``, then
a lease: ``next_attempt_at`` moves past the attempt's deadline, so a worker killed mid-POST
leaves the row to be claimed again once the lease ends), POSTs them outside any transaction,
and records each result under the claim that still holds the row. A failed attempt is followed
by a new row due after the retry schedule's next delay; after the last one it is FAILED.
At least once: a receiver may see an event twice (its ``webhook-id`` is the event id).
"""
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from bnpl.bulk import PREPARED_ROWS
from bnpl.errors import ValidationFailed
from bnpl.prepared import ServerSQL
from bnpl.standard_webhooks import sign
from events import delivery, ssrf
from events.models import (
    Audience,
    DeliveryStatus,
    EndpointStatus,
    Event,
    WebhookDelivery,
    WebhookEndpoint,
    new_event_id,
    new_event_ids,
)
from events.serializers import EventSerializer
from events.types import CLIENT_ONLY_TYPES, EVENT_TYPES, represent
from merchants.models import Merchant, generate_webhook_secret

logger = logging.getLogger(__name__)

DISPATCH_BATCH = 500
PRUNE_CHUNK = 5000
SECRET_OVERLAP = timedelta(hours=24)
KICK_KEY = "bnpl:events:kick"
KICK_DEBOUNCE_MS = 100
KICK_HOLD_MS = 5000


# --- The outbox ---------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedEvent:
    """An event written to the outbox: its id and its ``data``, the resource as the API shows it at
    that moment. A write answers with that same resource, so its view reuses ``data`` rather than
    building the representation a second time."""

    id: str
    data: dict


def event_record(*, type: str, obj: Any, merchant_id=None, now: datetime | None = None) -> RecordedEvent:  # noqa: A002
    """Write the event ``type`` about ``obj`` in the caller's transaction.

    ``data`` is ``obj`` as the API shows it now (its app's registered representer).
    ``merchant_id``: the merchant whose plan or refund it is (that merchant sees it); None
    for events only the client apps see. Client-only types never carry a merchant.
    """
    data = represent(type, obj)
    [event_id] = _outbox_insert(type=type, rows=[(data, merchant_id)], now=now)
    return RecordedEvent(id=event_id, data=data)


def event_record_many(*, type: str, items: Iterable[tuple[Any, Any]],  # noqa: A002
                      now: datetime | None = None) -> list[str]:
    """Set-based ``event_record``: one INSERT for every ``(obj, merchant_id)`` of ``items``; their ids."""
    return _outbox_insert(type=type, rows=[(represent(type, obj), merchant_id) for obj, merchant_id in items],
                          now=now)


def _outbox_insert(*, type: str, rows: list[tuple[dict, Any]], now: datetime | None) -> list[str]:  # noqa: A002
    """The events ``type`` of ``rows`` (``(data, merchant_id)``) in one INSERT per thousand; their ids.

    A plain parameterised INSERT rather than ``bulk_create``: a write may record a dozen events,
    and the ORM's per-object work was most of what they cost.
    """
    connection = transaction.get_connection()
    assert connection.in_atomic_block, "an event commits with its change"
    now = now or timezone.now()
    client_only = type in CLIENT_ONLY_TYPES
    prep_merchant = Event._meta.get_field("merchant").get_db_prep_value
    created = Event._meta.get_field("created_at").get_db_prep_value(now, connection)
    records = [(new_event_id(), type,
                None if client_only or merchant_id is None else prep_merchant(merchant_id, connection),
                json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":")), created)
               for data, merchant_id in rows]
    if records:
        for start in range(0, len(records), 1000):
            chunk = records[start:start + 1000]
            with connection.cursor() as cursor:
                _outbox_statement(len(chunk)).execute(cursor, [value for row in chunk for value in row])
        transaction.on_commit(kick)
    return [record[0] for record in records]


@lru_cache(maxsize=64)
def _outbox_statement(rows: int) -> ServerSQL:
    """The INSERT of ``rows`` events: a write's few are prepared once per session (``bnpl.bulk``)."""
    return ServerSQL(f"INSERT INTO {Event._meta.db_table} (id, type, merchant_id, data, created_at) VALUES "  # noqa: S608
                     + ", ".join(["(%s, %s, %s, %s, %s)"] * rows), prepare=rows <= PREPARED_ROWS)


def event_record_select(*, type: str, object_ids: list, select_sql: str,  # noqa: A002
                        params: dict[str, Any], now: datetime | None = None) -> int:
    """Set-based ``event_record`` built by the database (PostgreSQL): one ``INSERT ... SELECT`` for
    the objects ``object_ids``, whose ``data`` and merchant the owning app's ``select_sql`` builds
    (columns ``object_id``, ``merchant_id``, ``data`` (jsonb), filtered on ``object_id =
    ANY(%(object_ids)s)``: the same resource its registered representer gives, which that app's
    tests hold equal). For the sweep's thousands of events, where building each in Python cost
    most of the sweep. Returns how many events were written.
    """
    connection = transaction.get_connection()
    assert connection.in_atomic_block, "an event commits with its change"
    if not object_ids:
        return 0
    now = now or timezone.now()
    merchant = "NULL" if type in CLIENT_ONLY_TYPES else "src.merchant_id"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Event._meta.db_table} (id, type, merchant_id, data, created_at) "  # noqa: S608
            f"SELECT e.event_id, %(event_type)s, {merchant}, src.data, %(event_created)s "
            f"FROM unnest(%(event_ids)s::text[], %(object_ids)s::uuid[]) AS e(event_id, object_id) "
            f"JOIN ({select_sql}) AS src ON src.object_id = e.object_id",
            {**params, "event_type": type, "event_created": now, "object_ids": list(object_ids),
             "event_ids": new_event_ids(len(object_ids), int(now.timestamp() * 1000))})
        written = cursor.rowcount
    transaction.on_commit(kick)
    return written


def kick() -> None:
    """Nudge a worker to deliver now, without making the committing request wait for it.

    The request only sets a flag; one thread per process sends the nudge (``_kick_now``), so
    the commits of a busy moment share one. The Redis round trip and the broker publish cost a
    write several milliseconds when done inline. Nothing depends on the nudge: the rows are
    durable and beat re-drives them. With tasks run in-process (tests, the embedded mode)
    nothing is nudged: delivery there is the periodic ``deliver_events`` loop's job, never the
    web request's.
    """
    from bnpl.celery import app

    if app.conf.task_always_eager:
        return
    _kicker().set()


_kicker_wake: threading.Event | None = None
_kicker_pid = 0
_kicker_lock = threading.Lock()


def _kicker() -> threading.Event:
    """This process's nudging thread (started on first use, again after a fork)."""
    global _kicker_wake, _kicker_pid
    if _kicker_wake is None or _kicker_pid != os.getpid():
        with _kicker_lock:
            if _kicker_wake is None or _kicker_pid != os.getpid():
                wake = threading.Event()
                threading.Thread(target=_kick_loop, args=(wake,), name="events-kick", daemon=True).start()
                _kicker_wake, _kicker_pid = wake, os.getpid()
    return _kicker_wake


def _kick_loop(wake: threading.Event) -> None:
    while True:
        wake.wait()
        wake.clear()
        _kick_now()
        # At most one attempt per window from this process; a commit meanwhile is nudged after it.
        time.sleep(KICK_DEBOUNCE_MS / 1000)


def _kick_now() -> None:
    """At most one nudge per ``KICK_DEBOUNCE_MS`` for every web process. Never raises: with the
    broker down the rows wait for the beat re-drive."""
    from bnpl.celery import app

    try:
        # The debounce key lives in the broker's Redis: one nudge per window for every web process.
        if not _redis(app.conf.broker_url).set(KICK_KEY, "1", px=KICK_DEBOUNCE_MS, nx=True):
            return
        # By name: the task module imports this one.
        app.send_task("events.tasks.pump", expires=60)
    except Exception as exc:  # noqa: BLE001 - any broker or Redis failure: beat re-drives
        logger.warning("events: delivery not nudged (%s); left for the re-drive", type(exc).__name__)


_redis_clients: dict = {}


def _redis(url: str):
    client = _redis_clients.get(url)
    if client is None:
        import redis

        client = _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.3)
    return client


def _kick_clear() -> None:
    _kick_key(hold=False)


def _kick_hold() -> None:
    """While a pump is working, commits need not nudge another: the key is held (``KICK_HOLD_MS``,
    renewed by every busy pass; a killed pump's hold simply runs out) so their nudges are debounced
    without a broker publish each. The pump clears it before its last look."""
    _kick_key(hold=True)


def _kick_key(*, hold: bool) -> None:
    from bnpl.celery import app

    if app.conf.task_always_eager:
        return
    try:
        if hold:
            _redis(app.conf.broker_url).set(KICK_KEY, "1", px=KICK_HOLD_MS)
        else:
            _redis(app.conf.broker_url).delete(KICK_KEY)
    except Exception:  # noqa: BLE001, S110 - only a latency optimisation
        pass


# --- Endpoints ------------------------------------------------------------------------


def normalize_event_types(event_types: list[str] | None, *, audience: str) -> list[str]:
    """``None``/``["*"]``: every type the audience may see. Unknown types: ``ValueError``."""
    if event_types is None:
        return ["*"]
    if not event_types:
        raise ValueError("Must not be empty (omit it, or give [\"*\"], for every type).")
    types: list[str] = []
    for item in event_types:
        if item == "*":
            return ["*"]
        if item not in EVENT_TYPES:
            raise ValueError(f"Unknown event type {item!r}.")
        if audience == Audience.MERCHANT and item in CLIENT_ONLY_TYPES:
            raise ValueError(f"{item!r} is never sent to a merchant.")
        if item not in types:
            types.append(item)
    return types


def webhook_endpoint_create(*, url: str, audience: str, merchant: Merchant | None,
                            event_types: list[str] | None = None, description: str = "") -> WebhookEndpoint:
    """Create an endpoint for ``merchant`` (audience ``merchant``) or the client apps.

    The URL must pass ``ssrf.check`` now (and again at every delivery); event types must be
    known and visible to the audience: else 400 on that field. The returned endpoint's
    ``secret`` is the one time the plaintext leaves the service.
    """
    try:
        ssrf.check(url)
    except ssrf.UnsafeUrl as exc:
        raise ValidationFailed("url", str(exc), exc.code) from None
    try:
        event_types = normalize_event_types(event_types, audience=audience)
    except ValueError as exc:
        raise ValidationFailed("event_types", str(exc), "invalid_choice") from None
    return WebhookEndpoint.objects.create(
        url=url, audience=audience, merchant=merchant if audience == Audience.MERCHANT else None,
        event_types=event_types, description=description, secret=generate_webhook_secret())


@transaction.atomic
def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret at once; for ``SECRET_OVERLAP`` deliveries are signed with both (Svix does so)."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.previous_secret, endpoint.secret = endpoint.secret, generate_webhook_secret()
    endpoint.secret_rotated_at = timezone.now()
    endpoint.save(update_fields=["previous_secret", "secret", "secret_rotated_at"])
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Gone from the API at once; what it still had pending is FAILED (never sent)."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.status = EndpointStatus.DELETED
    endpoint.save(update_fields=["status"])
    _fail_pending(endpoint_ids=[endpoint.pk], error="endpoint_deleted")


def _fail_pending(*, endpoint_ids: list, error: str) -> int:
    return WebhookDelivery.objects.filter(endpoint_id__in=endpoint_ids, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, error=error, claim=None)


def endpoint_matches(endpoint: WebhookEndpoint, *, event_type: str, merchant_id) -> bool:
    """API.md §14's visibility: client endpoints get every event, a merchant's only its own."""
    if endpoint.status != EndpointStatus.ENABLED or not endpoint.wants(event_type):
        return False
    if endpoint.audience == Audience.CLIENT:
        return True
    return merchant_id is not None and endpoint.merchant_id == merchant_id and event_type not in CLIENT_ONLY_TYPES


# --- Dispatch: events -> delivery rows --------------------------------------------------


def events_dispatch(*, limit: int = DISPATCH_BATCH) -> int:
    """Create the first delivery of each undispatched event to each matching endpoint."""
    now = timezone.now()
    with transaction.atomic():
        events = list(Event.objects.select_for_update(skip_locked=True).filter(dispatched_at__isnull=True)
                      .order_by("id").values_list("id", "type", "merchant_id")[:limit])
        if not events:
            return 0
        endpoints = list(WebhookEndpoint.objects.filter(status=EndpointStatus.ENABLED)
                         .only("id", "audience", "merchant_id", "event_types", "status"))
        _insert_first_attempts([(event_id, endpoint.pk) for event_id, event_type, merchant_id in events
                                for endpoint in endpoints
                                if endpoint_matches(endpoint, event_type=event_type, merchant_id=merchant_id)], now=now)
        Event.objects.filter(pk__in=[event_id for event_id, _, _ in events]).update(dispatched_at=now)
    return len(events)


_DELIVERY_COLUMNS = ("id", "event_id", "endpoint_id", "attempt", "status", "next_attempt_at", "claim", "attempted_at",
                     "status_code", "duration_ms", "error", "response_body", "created_at")


def _insert_first_attempts(pairs: list[tuple[str, Any]], *, now: datetime) -> None:
    """A PENDING first attempt, due now, for each ``(event_id, endpoint_id)``: one plain INSERT per
    thousand rows (``bulk_create`` built a model and prepared 13 values per row)."""
    if not pairs:
        return
    connection = transaction.get_connection()
    prep_id = WebhookDelivery._meta.pk.get_db_prep_value
    stamp = WebhookDelivery._meta.get_field("created_at").get_db_prep_value(now, connection)
    row = "(" + ", ".join(["%s"] * len(_DELIVERY_COLUMNS)) + ")"
    for start in range(0, len(pairs), 1000):
        chunk = pairs[start:start + 1000]
        values = [value for event_id, endpoint_id in chunk
                  for value in (prep_id(uuid.uuid4(), connection), event_id, prep_id(endpoint_id, connection), 1,
                                DeliveryStatus.PENDING.value, stamp, None, None, None, None, "", "", stamp)]
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {WebhookDelivery._meta.db_table} ({', '.join(_DELIVERY_COLUMNS)}) VALUES "  # noqa: S608
                           + ", ".join([row] * len(chunk)), values)


def event_redeliver(*, event: Event, merchant_id=None) -> int:
    """Queue a new delivery (attempt 1) of ``event`` to every matching endpoint; a merchant's
    request (``merchant_id``) only to that merchant's own endpoints."""
    now = timezone.now()
    with transaction.atomic():
        endpoints = WebhookEndpoint.objects.filter(status=EndpointStatus.ENABLED)
        if merchant_id is not None:
            endpoints = endpoints.filter(merchant_id=merchant_id)
        rows = [WebhookDelivery(event_id=event.pk, endpoint_id=endpoint.pk, next_attempt_at=now, created_at=now)
                for endpoint in endpoints
                if endpoint_matches(endpoint, event_type=event.type, merchant_id=event.merchant_id)]
        WebhookDelivery.objects.bulk_create(rows)
        transaction.on_commit(kick)
    return len(rows)


# --- Delivery: claim, POST, record -------------------------------------------------------


def claim_seconds() -> int:
    # Above the longest batch: each of its rounds of parallel POSTs ends within the timeout.
    return settings.BNPL_WEBHOOK_CLAIM_SECONDS


def deliveries_claim(*, limit: int) -> tuple[uuid.UUID, list[WebhookDelivery]]:
    """Take up to ``limit`` due deliveries for this worker until the lease ends."""
    claim, now = uuid.uuid4(), timezone.now()
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        return claim, _claim_postgresql(connection, claim=claim, now=now, limit=limit)
    with transaction.atomic():
        ids = list(WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                   .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now,
                           endpoint__status=EndpointStatus.ENABLED)
                   .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
        if not ids:
            return claim, []
        WebhookDelivery.objects.filter(pk__in=ids).update(
            claim=claim, next_attempt_at=now + timedelta(seconds=claim_seconds()))
    return claim, list(WebhookDelivery.objects.filter(pk__in=ids, claim=claim)
                       .only("id", "event_id", "endpoint_id", "attempt"))


_CLAIM_PG = """
    UPDATE events_webhookdelivery AS d SET claim = %s, next_attempt_at = %s
     WHERE d.id IN (SELECT due.id FROM events_webhookdelivery AS due
                      JOIN events_webhookendpoint AS endpoint ON endpoint.id = due.endpoint_id
                     WHERE due.status = %s AND due.next_attempt_at <= %s AND endpoint.status = %s
                     ORDER BY due.next_attempt_at LIMIT %s
                       FOR UPDATE OF due SKIP LOCKED)
    RETURNING d.id, d.event_id, d.endpoint_id, d.attempt
"""


def _claim_postgresql(connection, *, claim: uuid.UUID, now: datetime, limit: int) -> list[WebhookDelivery]:
    """``deliveries_claim`` in one statement: the same rows, lock and lease, one round trip."""
    prep = WebhookDelivery._meta.get_field("next_attempt_at").get_db_prep_value
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_PG, [str(claim), prep(now + timedelta(seconds=claim_seconds()), connection),
                                   DeliveryStatus.PENDING.value, prep(now, connection),
                                   EndpointStatus.ENABLED.value, limit])
        rows = cursor.fetchall()
    return [WebhookDelivery.from_db(connection.alias, ["id", "event_id", "endpoint_id", "attempt"],
                                    (uuid.UUID(str(pk)) if not isinstance(pk, uuid.UUID) else pk, event_id,
                                     endpoint_id if isinstance(endpoint_id, uuid.UUID) else uuid.UUID(str(endpoint_id)),
                                     attempt))
            for pk, event_id, endpoint_id, attempt in rows]


def signature_header(endpoint: WebhookEndpoint, *, msg_id: str, timestamp: int, body: bytes,
                     now: datetime) -> str:
    secrets = [endpoint.secret]
    if endpoint.previous_secret and endpoint.secret_rotated_at and now - endpoint.secret_rotated_at < SECRET_OVERLAP:
        secrets.append(endpoint.previous_secret)
    return " ".join(sign(secret=s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets)


_created_at_field = None


def event_body(event: Event) -> bytes:
    """The event as ``GET /events/{id}/`` shows it, as UTF-8 JSON."""
    return _event_bodies([event.pk])[event.pk]


_EVENT_BODIES_PG = "SELECT id, type, created_at, data::text FROM events_event WHERE id = ANY(%s)"


def _event_bodies(event_ids: list[str]) -> dict[str, bytes]:
    """Each event as ``GET /events/{id}/`` shows it (``EventSerializer``: id, type, created_at,
    data), as UTF-8 JSON, in one query.

    On PostgreSQL ``data`` is taken as the stored JSON text and spliced in, never parsed and
    re-encoded: it is the same JSON value the API renders (``jsonb`` keeps one key order, which
    both see), and rebuilding it per event through the serializer cost more than its POST.
    ``created_at`` goes through the serializer's own field, so both render it alike.
    """
    global _created_at_field
    if _created_at_field is None:
        _created_at_field = EventSerializer().fields["created_at"]
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_EVENT_BODIES_PG, [list(event_ids)])
            rows = cursor.fetchall()
    else:
        rows = [(pk, type_, created_at, json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False))
                for pk, type_, created_at, data in Event.objects.filter(pk__in=event_ids)
                .values_list("id", "type", "created_at", "data")]
    dumps = json.dumps
    return {pk: ('{"id":%s,"type":%s,"created_at":%s,"data":%s}' % (  # noqa: UP031 - a splice, not formatting
        dumps(pk), dumps(type_), dumps(_created_at_field.to_representation(created_at), ensure_ascii=False),
        data)).encode() for pk, type_, created_at, data in rows}


def deliveries_send(deliveries: list[WebhookDelivery]) -> dict[uuid.UUID, delivery.Result]:
    """POST each delivery (in parallel threads); no database writes.

    Each endpoint's URL is resolved and checked once for the batch (``delivery.check``); each
    event's body is built once, before the threads share it.
    """
    if not deliveries:
        return {}
    endpoints = {e.pk: e for e in WebhookEndpoint.objects.filter(pk__in={d.endpoint_id for d in deliveries})}
    targets = {pk: delivery.check(endpoint.url) for pk, endpoint in endpoints.items()}
    bodies = _event_bodies(list({d.event_id for d in deliveries}))
    now = timezone.now()
    timestamp = int(now.timestamp())

    def send(item: WebhookDelivery) -> delivery.Result:
        endpoint = endpoints[item.endpoint_id]
        body = bodies[item.event_id]
        headers = {"webhook-id": item.event_id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": signature_header(endpoint, msg_id=item.event_id, timestamp=timestamp,
                                                         body=body, now=now)}
        return delivery.post(url=endpoint.url, body=body, headers=headers, target=targets[item.endpoint_id])

    results = list(_executor().map(send, deliveries))
    return {item.pk: result for item, result in zip(deliveries, results, strict=True)}


_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """One pool per process (created after a prefork worker forks)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=settings.BNPL_WEBHOOK_DELIVERY_THREADS,
                                       thread_name_prefix="webhook")
            _pool_pid = os.getpid()
        return _pool


def deliveries_record(*, claim: uuid.UUID, deliveries: list[WebhookDelivery],
                      results: dict[uuid.UUID, delivery.Result], now: datetime | None = None) -> dict[str, int]:
    """Store each attempt's result, schedule the next attempt of each failure, and keep
    the endpoints' health (``DISABLED`` after nothing but failures for the configured days).

    Only rows this claim still holds are written: a row whose lease ran out and that another
    worker claimed meanwhile belongs to that worker now (it will deliver again: at least once).
    """
    now = now or timezone.now()
    counts = {"succeeded": 0, "retrying": 0, "failed": 0}
    endpoint_ids = sorted({d.endpoint_id for d in deliveries})
    with transaction.atomic():
        # Lock order: endpoints, then deliveries (as webhook_endpoint_delete).
        endpoints = {e.pk: e for e in WebhookEndpoint.objects.select_for_update().filter(pk__in=endpoint_ids)
                     .order_by("pk").only("id", "status", "failing_since")}
        owned = set(WebhookDelivery.objects.select_for_update().filter(
            pk__in=[d.pk for d in deliveries], claim=claim, status=DeliveryStatus.PENDING)
            .order_by("pk").values_list("pk", flat=True))
        mine = [d for d in deliveries if d.pk in owned]
        ok_endpoints = {d.endpoint_id for d in mine if results[d.pk].ok}
        failed_endpoints = {d.endpoint_id for d in mine if not results[d.pk].ok} - ok_endpoints

        WebhookEndpoint.objects.filter(pk__in=ok_endpoints, failing_since__isnull=False).update(failing_since=None)
        WebhookEndpoint.objects.filter(pk__in=failed_endpoints, failing_since__isnull=True).update(failing_since=now)
        disable_before = now - timedelta(days=settings.BNPL_WEBHOOK_DISABLE_AFTER_DAYS)
        disabled = {pk for pk in failed_endpoints
                    if endpoints[pk].status == EndpointStatus.ENABLED
                    and (since := endpoints[pk].failing_since) is not None and since <= disable_before}
        if disabled:
            WebhookEndpoint.objects.filter(pk__in=disabled).update(status=EndpointStatus.DISABLED, disabled_at=now)
            logger.warning("events: %d webhook endpoint(s) disabled after %d days of failures", len(disabled),
                           settings.BNPL_WEBHOOK_DISABLE_AFTER_DAYS)
        gone = {pk for pk, e in endpoints.items() if e.status != EndpointStatus.ENABLED} | disabled

        retries = []
        for item in mine:
            result = results[item.pk]
            item.claim, item.attempted_at = None, now
            item.status_code, item.duration_ms = result.status_code, result.duration_ms
            item.error, item.response_body = result.error[:255], result.body
            if result.ok:
                item.status, item.next_attempt_at = DeliveryStatus.SUCCEEDED, None
                counts["succeeded"] += 1
                continue
            wait = None if item.endpoint_id in gone else delivery.retry_delay(item.attempt)
            if wait is None:
                item.status, item.next_attempt_at = DeliveryStatus.FAILED, None
                counts["failed"] += 1
            else:
                item.status, item.next_attempt_at = DeliveryStatus.RETRYING, now + wait
                retries.append(WebhookDelivery(event_id=item.event_id, endpoint_id=item.endpoint_id,
                                               attempt=item.attempt + 1, next_attempt_at=now + wait, created_at=now))
                counts["retrying"] += 1
        _store_attempts(mine, attempted_at=now)
        WebhookDelivery.objects.bulk_create(retries)
        if disabled:
            _fail_pending(endpoint_ids=list(disabled), error="endpoint_disabled")
    return counts


_STORE_ATTEMPTS_PG = """
    UPDATE events_webhookdelivery AS d
       SET claim = NULL, attempted_at = %s, status = v.status, status_code = v.status_code,
           duration_ms = v.duration_ms, error = v.error, response_body = v.response_body,
           next_attempt_at = v.next_attempt_at
      FROM (VALUES {values}) AS v(id, status, status_code, duration_ms, error, response_body, next_attempt_at)
     WHERE d.id = v.id
"""
_STORE_ATTEMPTS_ROW = """
    UPDATE events_webhookdelivery
       SET claim = NULL, attempted_at = %s, status = %s, status_code = %s, duration_ms = %s, error = %s,
           response_body = %s, next_attempt_at = %s
     WHERE id = %s
"""


def _store_attempts(items: list[WebhookDelivery], *, attempted_at: datetime) -> None:
    """Each attempt's result in one statement (``UPDATE ... FROM (VALUES ...)`` on PostgreSQL).

    ``bulk_update`` builds a CASE per column per row in Python, which cost more than the POSTs.
    """
    if not items:
        return
    connection = transaction.get_connection()
    prep_id = WebhookDelivery._meta.pk.get_db_prep_value
    prep_time = WebhookDelivery._meta.get_field("next_attempt_at").get_db_prep_value
    rows = [(prep_id(i.pk, connection), i.status, i.status_code, i.duration_ms, i.error, i.response_body,
             prep_time(i.next_attempt_at, connection)) for i in items]
    stamp = prep_time(attempted_at, connection)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            values = ", ".join(["(%s::uuid, %s, %s::integer, %s::integer, %s, %s, %s::timestamptz)"] * len(rows))
            cursor.execute(_STORE_ATTEMPTS_PG.format(values=values), [stamp, *[v for row in rows for v in row]])
        else:
            cursor.executemany(_STORE_ATTEMPTS_ROW, [(stamp, *row[1:], row[0]) for row in rows])


def deliveries_deliver_due(*, limit: int | None = None) -> int:
    """Claim, POST and record one batch of due deliveries; the number attempted."""
    limit = limit or settings.BNPL_WEBHOOK_DELIVERY_THREADS * 4
    claim, deliveries = deliveries_claim(limit=limit)
    if not deliveries:
        return 0
    results = deliveries_send(deliveries)
    deliveries_record(claim=claim, deliveries=deliveries, results=results)
    return len(deliveries)


def events_pump(*, budget_seconds: float = 20.0) -> dict[str, int]:
    """Dispatch and deliver until nothing is due or the budget is spent (one task run)."""
    deadline = time.monotonic() + budget_seconds
    totals = {"dispatched": 0, "attempted": 0}
    cleared = False
    while time.monotonic() < deadline:
        dispatched = events_dispatch()
        attempted = deliveries_deliver_due()
        totals["dispatched"] += dispatched
        totals["attempted"] += attempted
        if dispatched or attempted:
            _kick_hold()
            cleared = False
            continue
        if cleared:
            break
        # Let the next commit nudge again, then look once more: an event committed just before
        # the key was cleared (its nudge swallowed by the debounce) is seen by this last pass.
        _kick_clear()
        cleared = True
    if not cleared:  # the budget ran out while busy: the hold goes, the next commit nudges a new run
        _kick_clear()
    return totals


# --- Retention ------------------------------------------------------------------------------


def events_prune(*, older_than_days: int | None = None, chunk: int = PRUNE_CHUNK) -> dict[str, int]:
    """Delete events older than the retention period and their deliveries, a chunk of events
    per short transaction (two set-based DELETEs each)."""
    days = settings.BNPL_EVENT_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    counts = {"events": 0, "deliveries": 0}
    while True:
        with transaction.atomic():
            ids = list(Event.objects.filter(created_at__lt=cutoff).order_by("created_at")
                       .values_list("pk", flat=True)[:chunk])
            if not ids:
                break
            counts["deliveries"] += WebhookDelivery.objects.filter(event_id__in=ids).delete()[0]
            counts["events"] += Event.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < chunk:
            break
    return counts

