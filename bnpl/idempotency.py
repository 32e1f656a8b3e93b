"""``Idempotency-Key`` for POST endpoints (API.md §3), as one decorator.

    class RefundViewSet(...):
        @idempotent
        def create(self, request): ...

The handler's effect and the stored response commit in one database transaction:
a request happened once (and is replayed) or not at all. While the first request
holds the key, a PostgreSQL advisory lock (taken with ``pg_try_advisory_xact_lock``,
released by that same commit) makes any other answer 409 ``idempotency_key_in_use``
instead of waiting. On SQLite the database-wide write lock serialises the same way.
"""
import functools
import hashlib
import struct
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse

from bnpl import dates
from bnpl.bulk import insert_one
from bnpl.errors import IdempotencyKeyInUse, IdempotencyKeyReused, ValidationFailed
from bnpl.models import IdempotencyRecord
from bnpl.prepared import PreparedQuery, ServerSQL
from bnpl.renderers import JSONRenderer  # the bytes the response itself is rendered to

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
# 401, 403, 429 and 5xx mean nothing happened: they are not stored (API.md §3).
_NOT_STORED = {401, 403, 429}


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(0x20 <= ord(ch) <= 0x7E for ch in key)


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.get_full_path().encode(), request.body):
        digest.update(struct.pack(">Q", len(part)))
        digest.update(part)
    return digest.hexdigest()


def _try_lock(api_key_id, key: str) -> bool:
    if connection.vendor != "postgresql":
        return True
    lock_id = struct.unpack(">q", hashlib.sha256(f"{api_key_id}:{key}".encode()).digest()[:8])[0]
    with connection.cursor() as cursor:
        _TRY_LOCK.execute(cursor, [lock_id])
        return cursor.fetchone()[0]


_TRY_LOCK = ServerSQL("SELECT pg_try_advisory_xact_lock(%s)")


def _replay(record: IdempotencyRecord) -> HttpResponse:
    from bnpl.metrics import observe_idempotent_replay  # local: bnpl.metrics imports bnpl.errors too

    observe_idempotent_replay()
    content_type = "application/problem+json" if record.response_status >= 400 else "application/json"
    response = HttpResponse(record.response_body, status=record.response_status, content_type=content_type)
    response[REPLAY_HEADER] = "true"
    return response


# Unique per (key, Idempotency-Key): idempotency_key_per_api_key. Every keyed write reads it first.
_RECORD = PreparedQuery(lambda api_key, key: IdempotencyRecord.objects.filter(api_key=api_key, key=key),
                        api_key=IdempotencyRecord._meta.get_field("api_key"),
                        key=IdempotencyRecord._meta.get_field("key"))


def idempotent(handler):
    """Wrap a DRF view method so that an ``Idempotency-Key`` makes it exactly-once."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not _valid_key(key):
            raise ValidationFailed(HEADER, "Must be 1 to 255 printable ASCII characters.")
        fingerprint = _fingerprint(request)  # reads the raw body before DRF parses it
        with transaction.atomic():
            if not _try_lock(request.auth.pk, key):
                raise IdempotencyKeyInUse()
            record = _RECORD.get(api_key=request.auth.pk, key=key)
            if record is not None and record.expires_at <= dates.now():
                record.delete()
                record = None
            if record is not None:
                if record.fingerprint != fingerprint:
                    raise IdempotencyKeyReused()
                return _replay(record)
            try:
                with transaction.atomic():
                    response = handler(view, request, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - turned into the stored problem response
                response = view.handle_exception(exc)
            if response.status_code in _NOT_STORED or response.status_code >= 500:
                # Roll back whatever the handler did: nothing happened, nothing is stored.
                transaction.set_rollback(True)
                return response
            insert_one(IdempotencyRecord(
                api_key=request.auth,
                key=key,
                fingerprint=fingerprint,
                response_status=response.status_code,
                response_body=JSONRenderer().render(response.data).decode(),
                expires_at=dates.now() + timedelta(hours=settings.BNPL_IDEMPOTENCY_TTL_HOURS),
            ))
            return response

    return wrapper


def purge_expired(now=None) -> int:
    """Delete records past their expiry; returns how many."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now or dates.now()).delete()
    return deleted
