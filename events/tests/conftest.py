import socket

import pytest

from events.tests.receiver import Receiver


@pytest.fixture
def local_delivery(settings):
    """Deliveries to the in-process receiver: plain http (DEBUG) and private addresses allowed."""
    settings.DEBUG = True
    settings.BNPL_WEBHOOK_ALLOW_PRIVATE = True
    settings.BNPL_WEBHOOK_TIMEOUT_SECONDS = 2
    return settings


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def resolver(monkeypatch):
    """Host names resolved from a dict (the rest as usual): ``resolver["evil.example"] = "10.0.0.1"``."""
    names: dict[str, str | list[str]] = {}
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in names:
            answer = names[host]
            addresses = [answer] if isinstance(answer, str) else answer
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (a, port) if ":" not in a else (a, port, 0, 0)) for a in addresses]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return names
