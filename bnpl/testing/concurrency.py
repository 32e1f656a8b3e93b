"""Run work in N real threads, released together; each thread closes its own connection."""
import threading
from collections.abc import Callable

from django.db import connection


def race(n: int, fn: Callable[[int], object], timeout: float = 60) -> list:
    """``[fn(0), ..., fn(n-1)]`` run concurrently; an exception is returned in its slot."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[i] = fn(i)
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
