"""gunicorn's own log lines go through the application's redaction (``logconfig_dict`` in gunicorn.conf.py).

A real gunicorn with the deployment's config; malformed request lines that gunicorn refuses
before Django sees them (so only gunicorn logs them) carry a phone, passport and card number.
"""
import json
import socket
import sys

import pytest
from django.conf import settings

from bnpl.testing.db import current_database_url
from bnpl.testing.processes import Process, _answers, free_port, owned, production_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MALFORMED = [
    b"GET /api/v1/users/?phone_number=+998901234567&passport=AB1234567\r\nHost: x\r\n\r\n",  # no HTTP version
    b"GET /api/v1/users/?card=4111 1111 1111 1111\x01 HTTP/1.1\r\nHost: x\r\n\r\n",  # a control character
]
SECRETS = ["998901234567", "AB1234567", "4111 1111 1111 1111", "4111111111111111"]


def _send(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        return s.recv(200)


def test_a_malformed_request_line_is_logged_redacted(django_db_blocker):
    port = free_port()
    with django_db_blocker.unblock():
        database_url = current_database_url(application_name="gunicorn-logging")
    server = Process([sys.executable, "-m", "gunicorn", "bnpl.wsgi:application", "-c", "gunicorn.conf.py"],
                     env=production_env(database_url=database_url, redis_url=settings.REDIS_URL,
                                        GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_LOGLEVEL="info",
                                        WEB_CONCURRENCY="1", GUNICORN_THREADS="1"),
                     name="gunicorn")
    with owned(server):
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/api/v1/health/live/") or not server.alive(),
                   timeout=20, interval=0.1, message="gunicorn listening")
        for raw in MALFORMED:
            assert _send(port, raw).startswith(b"HTTP/1.1 400")
        wait_until(lambda: server.output().count("Invalid request") >= len(MALFORMED), timeout=10,
                   message="gunicorn logged both refusals")
        output = server.output()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    refused = [line for line in lines if "Invalid request" in line.get("message", "")]
    assert len(refused) == len(MALFORMED), output
    # The lines are there, JSON like the application's, with the request line's shape kept...
    assert all(line["logger"] == "gunicorn.error" and line["level"] == "WARNING" for line in refused)
    assert any("phone_number=[REDACTED]" in line["message"] for line in refused), refused
    # ...and no personal data anywhere in gunicorn's output.
    assert not [s for s in SECRETS if s in output], output
    # gunicorn adds no access line of its own (the application writes bnpl.access).
    assert not [line for line in lines if line.get("logger") == "gunicorn.access"]
