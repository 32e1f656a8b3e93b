"""Production: refuses to start without its secrets; passes ``manage.py check --deploy`` with no warning.

Runs behind a TLS-terminating proxy (nginx, an Ingress) that sets ``X-Forwarded-Proto``
(``SECURE_PROXY_SSL_HEADER`` in base settings). Plain-HTTP probes and scrapes from inside
the network (``/api/v1/health/live|ready/``, ``/metrics``) are exempt from the HTTPS redirect.
"""
from django.core.exceptions import ImproperlyConfigured

from bnpl.settings.base import *  # noqa: F403
from bnpl.settings.env import env_bool, env_int, env_list, env_str

for _name, _value in {
    "DJANGO_SECRET_KEY": SECRET_KEY,  # noqa: F405
    "BNPL_FIELD_ENCRYPTION_KEYS": BNPL_FIELD_ENCRYPTION_KEYS,  # noqa: F405
    "BNPL_LOOKUP_HASH_KEY": BNPL_LOOKUP_HASH_KEY,  # noqa: F405
    # The embedded mode (no Redis: per-process cache and rate limit, tasks in-process) is for
    # development; a deployment that lost REDIS_URL must not fall back to it silently.
    "REDIS_URL": REDIS_URL,  # noqa: F405
}.items():
    if not _value:
        raise ImproperlyConfigured(f"{_name} must be set in production")

DEBUG = False
# Probes (kubelet, Docker HEALTHCHECK) reach the container with Host: localhost.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, *(h for h in ("localhost", "127.0.0.1") if h not in ALLOWED_HOSTS)]  # noqa: F405
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# --- HTTPS and headers -----------------------------------------------------------
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/(live|ready)/$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_COOKIE_AGE", 8 * 3600)  # staff (admin) sessions only
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True

# --- Database: drop dead connections instead of failing a request on them --------
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    # (perf) The same backend, whose health check reads the socket instead of sending SELECT 1.
    DATABASES["default"]["ENGINE"] = "bnpl.postgresql"  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})  # noqa: F405
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5))  # noqa: F405

# --- Static files: hashed names, served by whitenoise with far-future caching -----
STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}  # noqa: F405
# Pages link the hashed names only ({% static %}): the unhashed copies would double the image (docs/DEPLOY.md).
WHITENOISE_KEEP_ONLY_HASHED_FILES = True

# --- Logging: LOGGING as in base, without the caller and thread look-ups no JSON line writes
# (bnpl.logging.configure). Development and the tests keep them, for tracebacks and pytest's reports.
LOGGING_CONFIG = "bnpl.logging.configure"

# --- /metrics: open to the internal network unless a token is set -----------------
BNPL_METRICS_TOKEN = env_str("BNPL_METRICS_TOKEN")

LOGGING["loggers"]["django.security.DisallowedHost"] = {"level": "ERROR"}  # noqa: F405
