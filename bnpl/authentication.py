"""``Authorization: Bearer <api key>`` for every ``/api/v1/`` endpoint.

A verified key is cached in the shared Redis (``apikey:<sha256>``, a small JSON record: id,
name, role, merchant id; never the raw key or anything of the merchant's) for
``BNPL_API_KEY_CACHE_SECONDS``. On the common path one Lua script both reads that record and
counts the request in the key's rate-limit window (``bnpl.throttling.CHECK_SCRIPT``): one
round trip instead of a query plus a five-command transaction.

Revocation stays immediate for every worker and replica: :func:`forget_api_key` (called by
``api_key_revoke`` before the row is written) replaces the record with a ``revoked``
tombstone, and a record is only ever added with SET NX, so a request that read the row just
before the revocation cannot put the key back. Revoking therefore needs Redis to be
reachable (it raises otherwise, and nothing is revoked); without Redis at all (the embedded
mode) every request reads the row, as before.
"""
import json
import logging
import uuid

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone
from rest_framework import authentication, exceptions

from bnpl import redis_policy, throttling
from bnpl.actor import API_KEY, set_request_actor
from bnpl.models import ApiKey, hash_api_key

logger = logging.getLogger(__name__)

REVOKED = "revoked"
# key hash -> key id in this process. Both never change for a key, so this holds no state that
# revocation could make stale (revocation lives in Redis); it only lets the first round trip name
# the key's rate-limit window, which is kept by id. Bounded: cleared when it grows past the cap.
_ID_BY_HASH: dict[str, str] = {}
_ID_CACHE_CAP = 10_000


def record_key(key_hash: str) -> str:
    return caches["default"].make_key(f"apikey:{key_hash}")


def _ttl() -> int:
    return int(getattr(settings, "BNPL_API_KEY_CACHE_SECONDS", 300))


def forget_api_key(api_key: ApiKey) -> None:
    """Make every worker refuse ``api_key`` from now on (called when it is revoked)."""
    location = throttling.redis_location()
    if location is None:
        return
    # SET, not DEL: a tombstone also stops a request that read the row before the revocation
    # from caching the key again (records are only added with NX). It outlives any record.
    throttling._redis_client(location).set(record_key(api_key.key_hash), REVOKED, ex=_ttl() + 60)


def _record(api_key: ApiKey) -> str:
    return json.dumps({"id": str(api_key.pk), "name": api_key.name, "role": api_key.role,
                       "merchant_id": str(api_key.merchant_id) if api_key.merchant_id else None,
                       "prefix": api_key.prefix})


def _from_record(record: str, key_hash: str) -> ApiKey:
    data = json.loads(record)
    values = {"id": uuid.UUID(data["id"]), "name": data["name"], "role": data["role"], "prefix": data["prefix"],
              "merchant_id": uuid.UUID(data["merchant_id"]) if data["merchant_id"] else None,
              "key_hash": key_hash, "created_at": None, "revoked_at": None}
    # As a row loaded from the database (Model.from_db): a key read from the cache is not a new one.
    field_names = [field.attname for field in ApiKey._meta.concrete_fields]
    return ApiKey.from_db("default", field_names, [values[name] for name in field_names])


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword.lower().encode() or len(header) != 2:
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        key_hash = hash_api_key(raw_key)
        location = throttling.redis_location()
        if location is not None and not redis_policy.RATE_LIMIT.allows(location):
            # Redis failed a moment ago (bnpl.redis_policy): skip it; the rate limit fails open, counted.
            redis_policy.RATE_LIMIT.skipped()
            request._request.bnpl_throttle_verdict = (True, None)
        elif location is not None:
            try:
                api_key = self._authenticate_cached(request, location, key_hash)
            except exceptions.AuthenticationFailed:
                raise
            except Exception as exc:  # noqa: BLE001 - a cache outage must not take the API down
                # The key row is read instead; the rate limit fails open for this request, counted.
                redis_policy.RATE_LIMIT.failed(location, exc)
                request._request.bnpl_throttle_verdict = (True, None)
            else:
                redis_policy.RATE_LIMIT.succeeded(location)
                if api_key is not None:
                    set_request_actor(API_KEY, api_key.name)  # who the status history names (bnpl/actor.py)
                    return api_key, api_key
        api_key = self._from_database(key_hash)
        set_request_actor(API_KEY, api_key.name)
        return api_key, api_key

    @staticmethod
    def _from_database(key_hash: str) -> ApiKey:
        api_key = ApiKey.objects.filter(key_hash=key_hash).first()
        if api_key is None or (api_key.revoked_at is not None and api_key.revoked_at <= timezone.now()):
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return api_key

    def _authenticate_cached(self, request, location: str, key_hash: str) -> ApiKey | None:
        """The key from its cached record, counted in its rate-limit window in the same round trip."""
        view = request.parser_context.get("view") if request.parser_context else None
        limit, duration = -1, 0.0
        if view is not None and throttling.counts_for(view):
            throttle = throttling.ApiKeyRateThrottle()
            if throttle.rate is not None:
                limit, duration = throttle.num_requests, throttle.duration
        key_id = _ID_BY_HASH.get(key_hash)
        if key_id is None:
            # First sight of this key in this process: the row names its window.
            api_key = self._from_database(key_hash)
            key_id = str(api_key.pk)
            if api_key.revoked_at is None:
                throttling._redis_client(location).set(record_key(key_hash), _record(api_key), nx=True, ex=_ttl())
            if len(_ID_BY_HASH) >= _ID_CACHE_CAP:
                _ID_BY_HASH.clear()
            _ID_BY_HASH[key_hash] = key_id
        for _ in range(2):
            record, allowed, wait = throttling.run_check(
                location, window_key=throttling.redis_key(key_id), record_key=record_key(key_hash),
                limit=limit, duration=duration)
            if record == REVOKED:
                raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
            if record != "miss":
                request._request.bnpl_throttle_verdict = (allowed, wait)
                return _from_record(record, key_hash)
            # Not cached (expired, or Redis restarted): read the row, cache it unless a
            # revocation's tombstone got there first, and ask again.
            api_key = self._from_database(key_hash)
            if api_key.revoked_at is not None:
                return None  # revoked in the future: not cached, read each time until then
            throttling._redis_client(location).set(record_key(key_hash), _record(api_key), nx=True, ex=_ttl())
        return None

    def authenticate_header(self, request) -> str:
        # Non-empty, so DRF answers 401 (not 403) when the key is missing or bad.
        return self.keyword
