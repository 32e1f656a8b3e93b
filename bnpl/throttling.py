"""Per-API-key rate limit (``BNPL_RATE_LIMIT``, e.g. ``600/min``) kept in the shared cache (Redis).

Every gunicorn worker and every replica counts against the same Redis key, so the limit
is per key across the deployment. Over the limit: 429 ``throttled`` problem+json with
``Retry-After`` (seconds), produced by ``bnpl.errors``. Unauthenticated requests are not
counted here (they are refused with 401 anyway; nginx's ``limit_req`` covers abuse by IP).
"""
import logging

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


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
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # noqa: BLE001 - a cache outage must not take the API down
            logger.warning("rate limit cache unavailable, request allowed: %s", type(exc).__name__)
            return True
