"""Per-API-key rate limit (``BNPL_RATE_LIMIT``, e.g. ``600/min``) kept in the shared Redis.

Every gunicorn worker and every replica counts against the same Redis key, so the limit
is per key across the deployment. Over the limit: 429 ``throttled`` problem+json with
``Retry-After`` (seconds), produced by ``bnpl.errors``. Unauthenticated requests are not
counted here (they are refused with 401 anyway; nginx's ``limit_req`` covers abuse by IP).

The window is an exact sliding log in a Redis sorted set: one pipelined round trip,
O(log n) per request. (DRF's own throttle pickles the whole history list on every
request, which costs time in proportion to the limit.) Without Redis, in the embedded
mode, DRF's cache-based throttle does the same job in process memory.
"""
import logging
import time
import uuid
from functools import lru_cache

import redis
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


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self) -> str | None:
        # Read at request time (DRF binds THROTTLE_RATES at import), so settings overrides apply.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if request.auth is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}

    def allow_request(self, request, view):
        if self.rate is None or request.auth is None:
            return True
        backend = caches["default"]
        if not isinstance(backend, RedisCache):
            return super().allow_request(request, view)  # embedded mode: per-process memory
        # Redis down: fail open, counted (bnpl.redis_policy); retried after a short cool-down.
        location = backend._servers[0]
        if not redis_policy.RATE_LIMIT.allows(location):
            redis_policy.RATE_LIMIT.skipped()
            return True
        try:
            allowed = self._allow_sliding_log(backend, redis_key(request.auth.pk))
        except Exception as exc:  # noqa: BLE001 - a cache outage must not take the API down
            redis_policy.RATE_LIMIT.failed(location, exc)
            return True
        redis_policy.RATE_LIMIT.succeeded(location)
        return allowed

    def _allow_sliding_log(self, backend: RedisCache, key: str) -> bool:
        client = _redis_client(backend._servers[0])
        now = time.time()
        member = f"{now:.6f}:{uuid.uuid4().hex[:8]}"
        pipe = client.pipeline(transaction=True)
        pipe.zremrangebyscore(key, 0, now - self.duration)
        pipe.zadd(key, {member: now})
        pipe.zcard(key)
        pipe.zrange(key, 0, 0, withscores=True)
        pipe.expire(key, int(self.duration) + 1)
        _, _, count, oldest, _ = pipe.execute()
        if count <= self.num_requests:
            return True
        client.zrem(key, member)  # a refused request does not use up the window
        self._wait = max(0.0, oldest[0][1] + self.duration - now) if oldest else self.duration
        return False

    def wait(self) -> float | None:
        return self._wait if hasattr(self, "_wait") else super().wait()
