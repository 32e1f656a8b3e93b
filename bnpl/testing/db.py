"""The test database seen from outside the test's own connection.

Connections of child processes are tagged with an ``application_name`` so that a test can
find and terminate exactly them; :func:`held_transaction` keeps a transaction open in
another connection (row locks, uncommitted conflicting rows) while the test goes on.
"""
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import connection, transaction

T = TypeVar("T")
HOLD_TIMEOUT_S = 60.0


class _Rollback(Exception):
    pass


@contextmanager
def held_transaction(work: Callable[[], T]) -> Iterator[T]:
    """Run ``work()`` in a transaction of another connection and keep it open inside the block.

    Whatever ``work`` locked stays locked, whatever it wrote stays uncommitted (but blocks
    conflicting writers) until the block ends; then it is rolled back.
    """
    ready, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def hold() -> None:
        try:
            with transaction.atomic():
                outcome["value"] = work()
                ready.set()
                release.wait(HOLD_TIMEOUT_S)
                raise _Rollback()
        except _Rollback:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome["error"] = exc
        finally:
            ready.set()
            connection.close()

    thread = threading.Thread(target=hold, name="held-transaction", daemon=True)
    thread.start()
    try:
        ready.wait(HOLD_TIMEOUT_S)
        if "error" in outcome:
            raise outcome["error"]
        yield outcome["value"]
    finally:
        release.set()
        thread.join(HOLD_TIMEOUT_S)


def current_database_url(*, application_name: str) -> str:
    """The database the current test runs on (pytest-django's ``test_<name>``, per xdist worker).

    ``application_name`` tags the child's connections in ``pg_stat_activity`` (see below).
    """
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return (f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
            f"?application_name={application_name}")


def database_backends(application_name: str, *, waiting_on_lock: bool = False) -> list[int]:
    """Server pids of the connections to this test's database tagged ``application_name``."""
    sql = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s"
    if waiting_on_lock:
        sql += " AND wait_event_type = 'Lock'"
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.settings_dict["NAME"], application_name])
        return [pid for (pid,) in cursor.fetchall()]


def terminate_backends(application_name: str) -> int:
    """``pg_terminate_backend`` those connections only (never ours, never another database's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = %s AND pid <> pg_backend_pid()",
            [connection.settings_dict["NAME"], application_name])
        return cursor.fetchone()[0]




_PREPARE = re.compile(r"(?:DEALLOCATE[^;]*; )*PREPARE (\w+) AS (.*); EXECUTE \1\b", re.S)
_EXECUTE = re.compile(r"EXECUTE (\w+)\b")


def statement_run(sql: str) -> str:
    """The statement the server ran for a captured query: a server-side prepared one
    (``bnpl.prepared.ServerStatements``) as it was prepared, anything else as it was sent."""
    prepared = _PREPARE.match(sql)
    if prepared:
        return prepared.group(2)
    executed = _EXECUTE.match(sql)
    if executed:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [executed.group(1)])
            row = cursor.fetchone()
        assert row is not None, f"{executed.group(1)} is not prepared on this session"
        return statement_run(row[0])
    return sql
