"""Production settings: refuse to start without secrets, ``check --deploy`` clean, HTTPS only. Subprocesses:
the settings module reads the environment once, at import."""
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client

REQUIRED = {
    "DJANGO_SECRET_KEY": "x7Jq2pR9vL4mZ8tW1nB6cY3hK5sD0fG2aE9uI7oP4qX1zV8rT6yN3wM5jH0kL2cQ",
    "BNPL_FIELD_ENCRYPTION_KEYS": "3l8lTdPkLZVZ1B5l3yMN5x6LmkV4t9DXtT9HfPQ7cUg=",
    "BNPL_LOOKUP_HASH_KEY": "production-lookup-hash-key-for-the-test",
}


def _run(args: list[str], env_overrides: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED and k != "DJANGO_DEBUG"}
    env.update({"DJANGO_SETTINGS_MODULE": "bnpl.settings.production", "DJANGO_ALLOWED_HOSTS": "bnpl.example.com"})
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run([sys.executable, *args], env=env, cwd=settings.BASE_DIR,  # noqa: S603
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_check_deploy_is_clean():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], REQUIRED)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
    assert "WARNING" not in output and "?:" not in output


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_refuses_to_start_without_each_secret(missing):
    result = _run(["-c", "import django; django.setup()"], {**REQUIRED, missing: None})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and f"{missing} must be set in production" in result.stderr


def test_empty_secret_counts_as_missing():
    result = _run(["-c", "import django; django.setup()"], {**REQUIRED, "DJANGO_SECRET_KEY": ""})
    assert result.returncode != 0 and "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_values():
    code = ("import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({"
            "'debug': s.DEBUG, 'ssl': s.SECURE_SSL_REDIRECT, 'hsts': s.SECURE_HSTS_SECONDS, "
            "'session_secure': s.SESSION_COOKIE_SECURE, 'csrf_secure': s.CSRF_COOKIE_SECURE, "
            "'proxy': list(s.SECURE_PROXY_SSL_HEADER), 'exempt': s.SECURE_REDIRECT_EXEMPT, "
            "'hosts': s.ALLOWED_HOSTS, 'xfo': s.X_FRAME_OPTIONS, 'nosniff': s.SECURE_CONTENT_TYPE_NOSNIFF}))")
    result = _run(["-c", code], {**REQUIRED, "DJANGO_DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["debug"] is False  # DJANGO_DEBUG cannot switch it on in production
    assert values["ssl"] and values["session_secure"] and values["csrf_secure"] and values["nosniff"]
    assert values["hsts"] >= 31536000
    assert values["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["xfo"] == "DENY"
    assert values["hosts"][0] == "bnpl.example.com" and "localhost" in values["hosts"]
    assert values["exempt"] == [r"^api/v1/health/(live|ready)/$", r"^metrics$"]


def test_production_logging_skips_what_no_line_writes():
    code = ("import json, logging, django; django.setup(); "
            "r = logging.getLogger('bnpl.access').makeRecord('bnpl.access', 20, '', 0, 'request', None, None); "
            "print(json.dumps({'srcfile': logging._srcfile, 'thread': r.threadName, 'process': r.process, "
            "'handlers': [type(h).__name__ for h in logging.getLogger().handlers]}))")
    result = _run(["-c", code], REQUIRED)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["srcfile"] is None and values["thread"] is None
    assert isinstance(values["process"], int)  # the pid stays: gunicorn's lines show it
    assert values["handlers"] == ["StreamHandler"]  # LOGGING itself applied


def test_development_and_tests_keep_the_caller_in_their_records():
    import logging

    assert settings.LOGGING_CONFIG == "logging.config.dictConfig" and logging._srcfile is not None


@pytest.mark.django_db
def test_https_redirect_spares_probes_but_not_the_api(settings):
    """The production redirect rules, applied in-process: probes over plain HTTP, everything else HTTPS."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/(live|ready)/$", r"^metrics$"]
    client = Client()
    assert client.get("/api/v1/health/live/").status_code == 200
    assert client.get("/metrics").status_code == 200
    r = client.get("/api/v1/users/")
    assert r.status_code == 301 and r["Location"].startswith("https://")
    # Behind the TLS proxy: X-Forwarded-Proto says https, no redirect.
    assert client.get("/api/v1/users/", HTTP_X_FORWARDED_PROTO="https").status_code == 401


@pytest.mark.django_db
def test_admin_requires_a_staff_login():
    r = Client().get("/admin/")
    assert r.status_code == 302
    assert r["Location"].startswith("/admin/login/")
