"""Run work in N real threads, released together; each thread closes its own connection."""
import threading
from collections.abc import Callable

from django.db import connection


def race(n: int, fn: Callable, timeout: float = 60, *, setup: Callable[[int], object] | None = None) -> list:
    """``[fn(0), ..., fn(n-1)]`` run concurrently; an exception is returned in its slot.

    ``setup(i)``, when given, runs in thread ``i`` before the barrier (e.g. a client of its own)
    and ``fn`` then receives its result instead of ``i``.
    """
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        try:
            arg = setup(i) if setup is not None else i
        except Exception as exc:  # noqa: BLE001 - handed back to the test to assert on
            results[i] = exc
            barrier.abort()  # the others must not wait for a thread that will never arrive
            connection.close()
            return
        try:
            barrier.wait(timeout=timeout)
            results[i] = fn(arg)
        except Exception as exc:  # noqa: BLE001 - handed back to the test to assert on
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    return results


def race_each(*targets: Callable[[], object], timeout: float = 60) -> list:
    """Each of ``targets`` in its own thread, released together: ``race`` over a list of callables."""
    return race(len(targets), lambda i: targets[i](), timeout)
