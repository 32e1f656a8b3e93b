"""Shared fixtures: API clients per role, on the real PostgreSQL and Redis."""
import json
import os
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from rest_framework.test import APIClient

from bnpl.models import ApiKey, Role
from bnpl.services import api_key_create
from merchants.tests.factories import MerchantFactory


def pytest_collection_modifyitems(config, items):
    """On the SQLite pass (``BNPL_TEST_DB=sqlite``) tests that need PostgreSQL are skipped."""
    if os.environ.get("BNPL_TEST_DB") != "sqlite":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (row locks, real processes)")
    for item in items:
        if "postgresql_only" in item.keywords:
            item.add_marker(skip)


class ApiClient(APIClient):
    """An APIClient that speaks JSON by default and checks every error body's shape."""

    # The key a role fixture's client authenticates with (set by ``_client_for``).
    api_key: ApiKey
    raw_key: str

    def generic(self, method, path, data="", content_type="application/json", **extra):
        response = super().generic(method, path, data, content_type, **extra)
        if response.status_code >= 400 and path.startswith(("/api/", "/webhook/")):
            assert_problem(response)
        return response

    def post(self, path, data=None, format=None, content_type=None, **extra):
        if data is not None and not isinstance(data, (str, bytes)) and format is None:
            data, content_type = json.dumps(data), "application/json"
        return super().post(path, data, format=format, content_type=content_type, **extra)

    def patch(self, path, data=None, format=None, content_type=None, **extra):
        if data is not None and not isinstance(data, (str, bytes)) and format is None:
            data, content_type = json.dumps(data), "application/json"
        return super().patch(path, data, format=format, content_type=content_type, **extra)


def assert_problem(response) -> dict:
    """Every 4xx/5xx body is RFC 9457 problem+json with the contract's fields."""
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = json.loads(response.content)
    for field in ("type", "title", "status", "detail", "code"):
        assert field in body, (field, body)
    assert body["status"] == response.status_code
    if body["code"] == "validation_error":
        assert body["errors"] and all({"attr", "code", "detail"} <= set(e) for e in body["errors"])
    return body


def bearer_client(raw_key: str) -> ApiClient:
    """A client of its own (one per thread in race tests) authenticated with ``raw_key``."""
    client = ApiClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def _client_for(role: str, merchant=None) -> ApiClient:
    api_key, raw = api_key_create(role=role, name=f"test {role}", merchant=merchant)
    client = bearer_client(raw)
    client.api_key = api_key
    client.raw_key = raw
    return client


@pytest.fixture
def merchant(db):
    return MerchantFactory()


@pytest.fixture
def client_api(db) -> ApiClient:
    return _client_for(Role.CLIENT)


@pytest.fixture
def operator_api(db) -> ApiClient:
    return _client_for(Role.OPERATOR)


@pytest.fixture
def merchant_api(db, merchant) -> ApiClient:
    """A merchant key bound to the ``merchant`` fixture."""
    return _client_for(Role.MERCHANT, merchant=merchant)


@pytest.fixture
def make_api(db):
    """``make_api(role, merchant=None)``: a client with a fresh key."""
    return _client_for


@pytest.fixture
def anon_api() -> ApiClient:
    return ApiClient()


@pytest.fixture
def business_day(settings):
    """``business_day(date)``: from then on the one clock (``bnpl.dates``) reads noon of that day in
    ``BNPL_TIME_ZONE``, and ticks on. ``time-machine`` moves the process's clock, so every reader of
    the time (services, the age check, row timestamps, threads) sees the same day.
    """
    travel = None

    def set_day(day):
        nonlocal travel
        if travel is not None:
            travel.stop()
        travel = time_machine.travel(
            datetime.combine(day, time(12), tzinfo=ZoneInfo(settings.BNPL_TIME_ZONE)), tick=True)
        travel.start()
        return day

    yield set_day
    if travel is not None:
        travel.stop()
