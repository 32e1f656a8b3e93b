"""The test suite: the real PostgreSQL and Redis on 127.0.0.1 (override with DATABASE_URL / REDIS_URL).

``BNPL_TEST_DB=sqlite`` runs on an in-memory SQLite database instead: the second pass of
``make test`` runs the money tests (``-m money``) there, because the embedded default is
SQLite and money must be exact on it too.
"""
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
BNPL_TEST_DB = os.environ.get("BNPL_TEST_DB", "postgresql")
if BNPL_TEST_DB == "sqlite":
    DATABASES["default"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}  # noqa: F405
elif BNPL_TEST_DB == "postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": "test_" + DATABASES["default"]["NAME"]}  # noqa: F405
else:
    raise ValueError(f"BNPL_TEST_DB must be 'postgresql' or 'sqlite', not {BNPL_TEST_DB!r}")
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"api_key": "100000/min"}  # noqa: F405
ALLOWED_HOSTS = ["*"]
