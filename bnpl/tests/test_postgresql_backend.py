"""``bnpl.postgresql``: the per-request connection check reads the socket, and still catches a dropped connection."""
import pytest
from django.db import connection

from bnpl.postgresql.base import DatabaseWrapper
from bnpl.testing.processes import wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def wrapper():
    w = DatabaseWrapper({**connection.settings_dict, "ENGINE": "bnpl.postgresql"}, alias="health-check-test")
    w.connect()
    yield w
    w.close()


def _last_query(pid: int) -> str | None:
    with connection.cursor() as cur:
        cur.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cur.fetchone()
    return row[0] if row else None


def test_a_live_idle_connection_is_usable_without_a_query(wrapper):
    with wrapper.connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid() /* marker */")
        pid = cur.fetchone()[0]
    assert wrapper.is_usable()
    assert _last_query(pid) == "SELECT pg_backend_pid() /* marker */"  # no SELECT 1 was sent


def test_a_connection_the_server_dropped_is_not_usable(wrapper):
    with wrapper.connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    with connection.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_until(lambda: _last_query(pid) is None, timeout=30, message="backend gone")
    assert not wrapper.is_usable()
