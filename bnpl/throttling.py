"""Per-API-key rate limit (``BNPL_RATE_LIMIT``, e.g. ``600/min``) kept in the shared Redis.

Every gunicorn worker and every replica counts against the same Redis key, so the limit
is per key across the deployment. Over the limit: 429 ``throttled`` problem+json with
``Retry-After`` (seconds), produced by ``bnpl.errors``. Unauthenticated requests are not
counted here (they are refused with 401 anyway; nginx's ``limit_req`` covers abuse by IP).

The window is an exact sliding log in a Redis sorted set, kept by one Lua script
(:data:`CHECK_SCRIPT`), so trimming, counting and adding are one atomic step and one round
trip; a refused request is never added. (DRF's own throttle pickles the whole history list on
every request, which costs time in proportion to the limit; the 5-command MULTI/EXEC this
replaced cost about a sixth of an authenticated read.) The same script also reads the API
key's cached record (``bnpl.authentication``), so that on the common path verifying the key
and counting it are a single round trip. Without Redis, in the embedded mode, DRF's
cache-based throttle does the same job in process memory.
"""
import logging
import os
import re
import time
from functools import lru_cache
from typing import cast

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from bnpl import redis_policy

logger = logging.getLogger(__name__)


def redis_key(ident) -> str:
    """The Redis key holding one API key's sliding window."""
    name = ApiKeyRateThrottle.cache_format % {"scope": ApiKeyRateThrottle.scope, "ident": ident}
    return caches["default"].make_key(name)


@lru_cache(maxsize=8)
def _redis_client(location: str) -> redis.Redis:
    # One client (and connection pool) per process: building a redis.Redis per request
    # costs more than the round trip itself.
    return redis.Redis.from_url(location, socket_connect_timeout=0.5, socket_timeout=0.5)


# KEYS: [cached key record,] sliding window. ARGV: now, now - window length, limit (-1: do not
# count), a unique member, the window's TTL. Returns {record or "", allowed 1/0, ms to wait or ""},
# or {"miss"} / {"revoked"} when the key's record is absent / a revocation tombstone (nothing counted).
# Timestamps stay strings: Lua's numbers would print them with 14 digits and lose the microseconds.
CHECK_SCRIPT = """
local record = ''
if #KEYS == 2 then
  record = redis.call('GET', KEYS[1])
  if not record then return {'miss'} end
  if record == 'revoked' then return {'revoked'} end
end
local window = KEYS[#KEYS]
local limit = tonumber(ARGV[3])
if limit < 0 then return {record, 1, ''} end
redis.call('ZREMRANGEBYSCORE', window, '-inf', ARGV[2])
if redis.call('ZCARD', window) < limit then
  redis.call('ZADD', window, ARGV[1], ARGV[4])
  redis.call('EXPIRE', window, ARGV[5])
  return {record, 1, ''}
end
local oldest = redis.call('ZRANGE', window, 0, 0, 'WITHSCORES')
if not oldest[2] then return {record, 0, ''} end
-- Milliseconds until the oldest entry leaves the window (oldest - (now - window length)).
return {record, 0, math.ceil((tonumber(oldest[2]) - tonumber(ARGV[2])) * 1000)}
"""


@lru_cache(maxsize=8)
def _check_script(location: str):
    return _redis_client(location).register_script(CHECK_SCRIPT)


_LOCATION: list[tuple[object, str | None]] = []


def redis_location() -> str | None:
    """The shared Redis behind the default cache, or None in the embedded mode. Read once per
    ``CACHES`` setting (every authenticated request asks; ``override_settings`` gives a new one)."""
    caches_setting = settings.CACHES
    known = _LOCATION[-1] if _LOCATION else None
    if known is not None and known[0] is caches_setting:
        return known[1]
    location: str | None = None
    if isinstance(caches["default"], RedisCache):
        # Read as RedisCache reads it: one URL, several separated by ";" or ",", or a list; the first writes.
        configured = caches_setting["default"]["LOCATION"]
        location = (re.split("[;,]", configured) if isinstance(configured, str) else list(configured))[0]
    _LOCATION[:] = [(caches_setting, location)]
    return location


def run_check(location: str, *, window_key: str, record_key: str | None, limit: int, duration: float):
    """One round trip: read ``record_key`` (if given) and count a request in ``window_key``.

    Returns ``("miss" | "revoked", None, None)`` or ``(record, allowed, retry_after_seconds)``.
    ``limit < 0`` only reads the record. Raises redis errors to the caller.
    """
    now = time.time()
    keys = [record_key, window_key] if record_key else [window_key]
    reply = _check_script(location)(keys=keys, args=[
        f"{now:.6f}", f"{now - duration:.6f}", limit, f"{now:.6f}:{os.urandom(4).hex()}", int(duration) + 1])
    if len(reply) == 1:
        return reply[0].decode(), None, None
    record, allowed, wait_ms = reply
    if allowed:
        return record, True, None
    wait = max(0, int(wait_ms)) / 1000 if wait_ms != b"" else duration
    return record, False, wait


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"
    # Set by SimpleRateThrottle.__init__ from the rate (the DRF stubs do not declare them).
    num_requests: int
    duration: int

    def get_rate(self) -> str | None:
        # Read at request time (DRF binds THROTTLE_RATES at import), so settings overrides apply.
        # The stubs type the rates as numbers; DRF's are "N/period" strings (parse_rate splits them).
        return cast("str | None", api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))

    def get_cache_key(self, request, view):
        if request.auth is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}

    def allow_request(self, request, view):
        if self.rate is None or request.auth is None:
            return True
        # Usually decided already, in the same round trip that verified the key.
        verdict = getattr(request._request, "bnpl_throttle_verdict", None)
        if verdict is not None:
            allowed, self._wait = verdict
            return allowed
        location = None
        try:
            location = redis_location()
            if location is None:
                return super().allow_request(request, view)
            # Redis down: fail open, counted (bnpl.redis_policy); retried after a short cool-down.
            if not redis_policy.RATE_LIMIT.allows(location):
                redis_policy.RATE_LIMIT.skipped()
                return True
            _, allowed, self._wait = run_check(location, window_key=redis_key(request.auth.pk), record_key=None,
                                               limit=self.num_requests, duration=self.duration)
        except Exception as exc:  # noqa: BLE001 - a cache outage must not take the API down
            redis_policy.RATE_LIMIT.failed(location or "", exc)
            return True
        redis_policy.RATE_LIMIT.succeeded(location)
        return allowed

    def wait(self) -> float | None:
        return self._wait if getattr(self, "_wait", None) is not None else super().wait()


def counts_for(view) -> bool:
    """Whether ``view`` is rate limited by :class:`ApiKeyRateThrottle`."""
    return any(isinstance(cls, type) and issubclass(cls, ApiKeyRateThrottle)
               for cls in getattr(view, "throttle_classes", ()))
