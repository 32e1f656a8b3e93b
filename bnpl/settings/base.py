"""Settings shared by every environment; each value comes from the environment."""
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab

from bnpl.settings.env import env_bool, env_int, env_late_fees, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "django_filters",
    "drf_yasg",
    "bnpl",
    "users",
    "merchants",
    "audit",
    "ledger",
    "plans",
    "debt",
    "refunds",
    "webhooks",
    "events",
    "ops",
    "axes",
]

MIDDLEWARE = [
    # Request id, access line, metrics; and on /api/ the short path (only the middleware below
    # that the API needs: bnpl/middleware.py says which and why).
    "bnpl.middleware.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # (perf) Django's session, auth and messages middleware as subclasses that skip /api/:
    # they serve the admin only (bnpl/admin_middleware.py says why).
    "bnpl.admin_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "bnpl.admin_middleware.AuthenticationMiddleware",
    "bnpl.admin_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # admin login lockout; last, as django-axes requires
]

ROOT_URLCONF = "bnpl.urls"
WSGI_APPLICATION = "bnpl.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "bnpl" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE_DIR / "db.sqlite3")}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The installments' covering indexes carry columns for PostgreSQL's index-only scans (INCLUDE);
# SQLite, the embedded default, builds the same indexes on their key columns alone, which answers
# the same and is only slower. Its warning at every migrate says just that; PostgreSQL never raises it.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
# The API's hot reads (bnpl.prepared) as PostgreSQL prepared statements, parsed and planned once per
# connection. Off behind a pooler in transaction mode (PgBouncer's pool_mode=transaction), which may
# hand each transaction a different server session.
BNPL_PG_PREPARED_STATEMENTS = env_bool("BNPL_PG_PREPARED_STATEMENTS", True)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Redis, cache and Celery (API.md §9-§10 v1.1) ---------------------------------
# The mode is chosen by configuration, never by a failed connection: with REDIS_URL unset the
# service runs embedded (a per-process cache and rate limit, Celery tasks in-process); with it
# set, Redis is the cache, the rate-limit store and the broker, and a Redis that is down at
# start or later only makes the service "degraded" until it returns (no restart needed):
#   - publishing a task fails fast and open: durable rows (the webhook inbox) are re-driven by
#     beat, and each failure is counted (bnpl_redis_fail_open_total{component="task_publish"});
#   - the rate limit fails open, counted the same way (component="rate_limit");
#   - /api/v1/health/ready/ stays 200 (it fails only on the database); the health page says
#     which check is down.
REDIS_URL = env_str("REDIS_URL")
EMBEDDED_MODE = not REDIS_URL
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = EMBEDDED_MODE
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must not hang a web request when the broker is down: the durable
# rows (webhook inbox) are re-driven by beat instead.
#
# Redis transport and acks_late: a message a worker took and never acknowledged (the worker
# was killed mid-task) is put back on the queue once it is older than the visibility timeout;
# workers look for such messages every interval x throttle seconds. Celery's default timeout
# is one hour; ours must stay above the longest task run and the longest retry countdown or
# ETA (60 s today), else a message still being worked on is delivered a second time (harmless
# for our idempotent tasks, but wasted work). The webhook inbox does not depend on it: the
# beat re-drive re-enqueues RECEIVED events every 30 s.
BNPL_BROKER_VISIBILITY_TIMEOUT = env_int("BNPL_BROKER_VISIBILITY_TIMEOUT", 600)
BNPL_BROKER_RESTORE_INTERVAL = env_int("BNPL_BROKER_RESTORE_INTERVAL", 10)
BNPL_BROKER_RESTORE_THROTTLE = env_int("BNPL_BROKER_RESTORE_THROTTLE", 10)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1, "socket_timeout": 2, "max_retries": 0,
    "visibility_timeout": BNPL_BROKER_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": BNPL_BROKER_RESTORE_INTERVAL,
    "unacked_restore_throttle": BNPL_BROKER_RESTORE_THROTTLE,
}
CELERY_TASK_PUBLISH_RETRY = False

BNPL_OVERDUE_SWEEP_SECONDS = env_int("BNPL_OVERDUE_SWEEP_SECONDS", 300)
CELERY_BEAT_SCHEDULE = {
    "overdue-sweep": {"task": "debt.tasks.sweep_overdue", "schedule": BNPL_OVERDUE_SWEEP_SECONDS},
    "webhook-redrive": {"task": "webhooks.tasks.redrive_pending_events", "schedule": 30},
    "idempotency-cleanup": {"task": "bnpl.tasks.purge_expired_idempotency_records", "schedule": 3600},
}

# --- Ledger (the journal's daily reconciliation) ---------------------------------
# Hour and minute (UTC) of the daily `manage.py reconcile` run by beat; default 21:30 UTC,
# 02:30 in Asia/Tashkent, when the traffic is lowest.
BNPL_RECONCILE_HOUR_UTC = env_int("BNPL_RECONCILE_HOUR_UTC", 21)
BNPL_RECONCILE_MINUTE_UTC = env_int("BNPL_RECONCILE_MINUTE_UTC", 30)
CELERY_BEAT_SCHEDULE["ledger-reconcile"] = {
    "task": "ledger.tasks.reconcile",
    "schedule": crontab(hour=BNPL_RECONCILE_HOUR_UTC, minute=BNPL_RECONCILE_MINUTE_UTC),
}

# --- Operations (ops app): beat at start, worker logs, health cache -------------------
# Beat (and the embedded loop of `make run`) runs these entries once as it starts, then on their
# schedule: a fresh deployment has a sweep within seconds, not after BNPL_OVERDUE_SWEEP_SECONDS.
CELERY_BEAT_SCHEDULER = "bnpl.celery:StartupScheduler"
BNPL_BEAT_AT_START = ["overdue-sweep"]
# Celery's own loggers go through LOGGING below (JSON, redacted), not its text handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Admin login lockout (django-axes): 5 failures for one username from one address lock that
# pair out for 15 minutes; a success resets the count. See bnpl/admin_lockout.py for the address.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "bnpl.admin_lockout.client_ip"
AXES_VERBOSE = False  # its log lines would carry the username and address; the lockout itself is logged
BNPL_TRUSTED_PROXIES = env_int("BNPL_TRUSTED_PROXIES", 0)
# How long the health page may reuse a check's result (Redis, Celery, sweep, inbox), in seconds.
BNPL_HEALTH_CACHE_SECONDS = env_int("BNPL_HEALTH_CACHE_SECONDS", 10)

# --- Business configuration -----------------------------------------------------
BNPL_CURRENCY = env_str("BNPL_CURRENCY", "UZS")
BNPL_TIME_ZONE = env_str("BNPL_TIME_ZONE", "Asia/Tashkent")
BNPL_GRACE_DAYS = env_int("BNPL_GRACE_DAYS", 0)
# Upper bounds (days past due) of the aging buckets, ascending: "30,60,90" -> 1-30, 31-60, 61-90, 91+.
BNPL_AGING_BUCKETS = env_str("BNPL_AGING_BUCKETS", "30,60,90")
# Delinquency (API.md §13). A PENDING refund pauses its plan's collection for at most this many days
# from its creation day; where a refund goes first: "last_first" (§7) or "overdue_first" (Fineract).
# Any other value refuses to start (bnpl.apps.check_business_settings).
BNPL_RETURN_PAUSE_DAYS = env_int("BNPL_RETURN_PAUSE_DAYS", 30)
BNPL_REFUND_ALLOCATION = env_str("BNPL_REFUND_ALLOCATION", "last_first")
BNPL_WEBHOOK_TOLERANCE_SECONDS = env_int("BNPL_WEBHOOK_TOLERANCE_SECONDS", 300)
BNPL_RATE_LIMIT = env_str("BNPL_RATE_LIMIT", "600/min")
BNPL_FIELD_ENCRYPTION_KEYS = env_list("BNPL_FIELD_ENCRYPTION_KEYS")
BNPL_LOOKUP_HASH_KEY = env_str("BNPL_LOOKUP_HASH_KEY")
BNPL_IDEMPOTENCY_TTL_HOURS = env_int("BNPL_IDEMPOTENCY_TTL_HOURS", 24)
BNPL_WEBHOOK_MAX_BODY_BYTES = env_int("BNPL_WEBHOOK_MAX_BODY_BYTES", 64 * 1024)

# --- Outbound events and webhook deliveries (events app, API.md §14) ---------------
# Waits before each retry of a failed delivery (±10 % jitter): "5s,5m,30m,2h,5h,10h,10h" is
# Svix's schedule, eight attempts over about 28 hours; plain numbers are seconds.
BNPL_WEBHOOK_RETRY_SCHEDULE = env_str("BNPL_WEBHOOK_RETRY_SCHEDULE", "5s,5m,30m,2h,5h,10h,10h")
# Lets webhook URLs resolve to loopback/private/link-local addresses (off: SSRF protection).
BNPL_WEBHOOK_ALLOW_PRIVATE = env_bool("BNPL_WEBHOOK_ALLOW_PRIVATE", False)
BNPL_WEBHOOK_TIMEOUT_SECONDS = env_int("BNPL_WEBHOOK_TIMEOUT_SECONDS", 10)
# A worker's claim on a batch of deliveries; a worker killed mid-batch frees it after this long.
BNPL_WEBHOOK_CLAIM_SECONDS = env_int("BNPL_WEBHOOK_CLAIM_SECONDS", 60)
BNPL_WEBHOOK_DELIVERY_THREADS = env_int("BNPL_WEBHOOK_DELIVERY_THREADS", 16)
BNPL_WEBHOOK_DISABLE_AFTER_DAYS = env_int("BNPL_WEBHOOK_DISABLE_AFTER_DAYS", 5)
BNPL_EVENT_RETENTION_DAYS = env_int("BNPL_EVENT_RETENTION_DAYS", 30)
BNPL_EVENTS_PUMP_SECONDS = env_int("BNPL_EVENTS_PUMP_SECONDS", 2)
CELERY_BEAT_SCHEDULE.update({
    # The re-drive: new events and due retries, whatever happened to the on-commit nudges.
    "events-pump": {"task": "events.tasks.pump", "schedule": BNPL_EVENTS_PUMP_SECONDS,
                    "options": {"expires": BNPL_EVENTS_PUMP_SECONDS * 5}},
    "events-prune": {"task": "events.tasks.prune", "schedule": 3600},
})
# --- Checkout consent and credit controls (API.md §12; the consent branch) -------------------
BNPL_MAX_BACKDATE_DAYS = env_int("BNPL_MAX_BACKDATE_DAYS", 3)        # client plans' start_date, days before today
BNPL_CHECKOUT_TTL_MINUTES = env_int("BNPL_CHECKOUT_TTL_MINUTES", 30)  # a merchant's plan waits this long
BNPL_MAX_OPEN_PLANS = env_int("BNPL_MAX_OPEN_PLANS", 5)              # ACTIVE + PENDING_CONFIRMATION per user
# A new user's credit_limit: an amount, or "none" for no limit (users.services.default_credit_limit).
BNPL_DEFAULT_CREDIT_LIMIT = env_str("BNPL_DEFAULT_CREDIT_LIMIT", "10000000.00")
# --- Late fees (API.md §13; the fees branch) ----------------------------------------------
# (days past due, amount in major units) steps, assessed once each by the sweep; empty: no fees.
BNPL_LATE_FEES = env_late_fees("BNPL_LATE_FEES")
# The fees assessed on a plan never exceed this percentage of its total (a step is cut to fit).
BNPL_LATE_FEE_CAP_PERCENT = env_int("BNPL_LATE_FEE_CAP_PERCENT", 25)
BNPL_PLAN_EXPIRY_SECONDS = env_int("BNPL_PLAN_EXPIRY_SECONDS", 60)   # how often beat marks lapsed checkouts
CELERY_BEAT_SCHEDULE["plans-expire"] = {"task": "plans.tasks.expire_pending_plans",
                                        "schedule": BNPL_PLAN_EXPIRY_SECONDS}

# --- REST framework and schema --------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["bnpl.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["bnpl.permissions.RolePermission"],
    "DEFAULT_PARSER_CLASSES": ["bnpl.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["bnpl.renderers.JSONRenderer"],  # DRF's bytes, encoded by orjson
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "bnpl.negotiation.JsonContentNegotiation",  # (perf) same answers
    "DEFAULT_PAGINATION_CLASS": "bnpl.pagination.CreatedCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["bnpl.filters.QueryFilterBackend"],  # (perf) no FilterSet without a query
    "EXCEPTION_HANDLER": "bnpl.errors.problem_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["bnpl.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": BNPL_RATE_LIMIT},
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": None,
    "PAGE_SIZE": 50,
}

SWAGGER_SETTINGS = {
    "SECURITY_DEFINITIONS": {
        "Bearer": {"type": "apiKey", "in": "header", "name": "Authorization",
                   "description": "`Bearer <api key>` (create one with `manage.py create_api_key`)."}
    },
    "USE_SESSION_AUTH": False,
    "DEFAULT_AUTO_SCHEMA_CLASS": "bnpl.schema.ProblemAutoSchema",
    # JSON first: /swagger.json has no format in its URL, so content negotiation picks the first
    # renderer for clients that send no Accept (or */*); drf-yasg's default put YAML first.
    "DEFAULT_SPEC_RENDERERS": [
        "drf_yasg.renderers.SwaggerJSONRenderer",
        "drf_yasg.renderers.SwaggerYAMLRenderer",
        "drf_yasg.renderers.OpenAPIRenderer",
    ],
}

# --- CORS and proxies ----------------------------------------------------------
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Idempotent-Replayed", "Retry-After"]
CORS_ALLOW_HEADERS = ["authorization", "content-type", "idempotency-key", "x-request-id"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Logging: JSON lines, personal data redacted as a second line of defence -----
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "bnpl.logging.RedactPersonalDataFilter"},
        "request_id": {"()": "bnpl.logging.RequestIdFilter"},
    },
    "formatters": {
        "json": {
            "()": "bnpl.logging.JsonFormatter",  # python-json-logger's, the access line made cheap
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id", "redact"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}

DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- Request path (perf) ---------------------------------------------------------
# bench/api.py only: mounts GET /api/v1/bench/floor/, a view returning {"ok": true} with no DRF,
# key or database, so the cost of the middleware stack alone can be measured. Off everywhere else.
BNPL_BENCH_FLOOR = env_bool("BNPL_BENCH_FLOOR", False)
# A verified API key is cached in Redis this long (bnpl/authentication.py); revocation replaces
# the cached record at once, so this bounds nothing about revocation, only how often a key's
# row is re-read.
BNPL_API_KEY_CACHE_SECONDS = env_int("BNPL_API_KEY_CACHE_SECONDS", 300)
