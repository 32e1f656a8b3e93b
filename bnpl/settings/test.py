"""The test suite: the real PostgreSQL and Redis on 127.0.0.1 (override with DATABASE_URL / REDIS_URL)."""
import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bnpl")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from bnpl.settings.base import *  # noqa: E402,F403

SECRET_KEY = "test-secret-key-not-for-production-use-only-in-the-suite-0123456789"
BNPL_FIELD_ENCRYPTION_KEYS = ["3l8lTdPkLZVZ1B5l3yMN5x6LmkV4t9DXtT9HfPQ7cUg="]
BNPL_LOOKUP_HASH_KEY = "test-lookup-hash-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tasks run in-process in unit tests; the worker/broker tests start real ones.
CELERY_TASK_ALWAYS_EAGER = True
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"]["TEST"] = {"NAME": "test_" + DATABASES["default"]["NAME"]}  # noqa: F405
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"api_key": "100000/min"}  # noqa: F405
ALLOWED_HOSTS = ["*"]
