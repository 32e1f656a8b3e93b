"""One HTTP POST of one event to one endpoint, and when to try again.

urllib3's connection classes are used directly, not a pool or a session: the request must go
to an address that ``events.ssrf`` has just checked (never to whatever the name resolves to a
moment later), with the URL's host name for ``Host``, SNI and the certificate check; redirects
are never followed (a 3xx is a failed attempt); at most 1 KiB of the answer is read, compressed
or not; and the whole attempt (connect, TLS, request, answer) has one deadline.
"""
import heapq
import http.client
import itertools
import logging
import os
import random
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.exceptions import HTTPError as Urllib3Error

from events import ssrf

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1024
USER_AGENT = "bnpl-webhooks/1.1"
_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_schedule(raw: str) -> tuple[float, ...]:
    """``"5s,5m,30m,2h"`` (or plain seconds) as seconds; each item the wait before one retry."""
    delays = []
    for item in (part.strip().lower() for part in raw.split(",")):
        if not item:
            continue
        match = _DURATION.match(item)
        if match is None:
            raise ImproperlyConfigured(f"BNPL_WEBHOOK_RETRY_SCHEDULE: {item!r} is not a duration like 5s, 5m, 2h")
        delays.append(float(int(match[1]) * _UNIT_SECONDS[match[2]]))
    return tuple(delays)


def retry_schedule() -> tuple[float, ...]:
    return parse_schedule(settings.BNPL_WEBHOOK_RETRY_SCHEDULE)


def max_attempts() -> int:
    return len(retry_schedule()) + 1


def retry_delay(attempt: int) -> timedelta | None:
    """The wait after failed attempt number ``attempt`` (1-based), ±10 % jitter; None after the last."""
    schedule = retry_schedule()
    if attempt > len(schedule):
        return None
    return timedelta(seconds=schedule[attempt - 1] * random.uniform(0.9, 1.1))  # noqa: S311 - jitter, not crypto


@dataclass
class Result:
    ok: bool
    status_code: int | None = None
    duration_ms: int = 0
    error: str = ""
    body: str = ""


@lru_cache(maxsize=8)
def _ssl_context(cafile: str, capath: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if cafile or capath:
        # An operator's own certificate authority (SSL_CERT_FILE / REQUESTS_CA_BUNDLE / SSL_CERT_DIR).
        context.load_verify_locations(cafile=cafile or None, capath=capath or None)
    return context


_ssl_context_lock = threading.Lock()


def ssl_context() -> ssl.SSLContext:
    cafile = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or ""
    with _ssl_context_lock:  # else every delivery thread of a new worker loads the CA bundle at once
        return _ssl_context(cafile, os.environ.get("SSL_CERT_DIR", ""))


def timeout_seconds() -> float:
    return float(settings.BNPL_WEBHOOK_TIMEOUT_SECONDS)


def check(url: str) -> ssrf.Target | Result:
    """``url`` resolved and checked (``ssrf.check``), or the refused attempt's result.

    A batch checks each endpoint's URL once and passes the target to every ``post`` to it: the
    name is resolved per batch, not per event. The address actually connected to is still
    checked on every new connection, and a kept-alive connection is only reused for an address
    this check approved.
    """
    try:
        return ssrf.check(url)
    except ssrf.UnsafeUrl as exc:
        return Result(ok=False, error=f"refused: {exc.code}")


def post(*, url: str, body: bytes, headers: dict[str, str], target: ssrf.Target | Result | None = None) -> Result:
    """POST ``body`` to ``url``; never raises. ``ok`` only for a 2xx within the deadline.

    ``target``: ``check(url)`` done by the caller for this batch (else it is done here).
    """
    started = time.monotonic()
    deadline = started + timeout_seconds()
    if target is None:
        target = check(url)
    if isinstance(target, Result):
        return Result(ok=False, duration_ms=_ms(started), error=target.error)
    last_error = "connection_failed"
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            last_error = "timeout"
            break
        result = _post_to(target, address, body, headers, deadline)
        if result is not None:
            result.duration_ms = _ms(started)
            return result
        last_error = "connection_refused"
    return Result(ok=False, duration_ms=_ms(started), error=last_error)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# Keep-alive: each delivery thread keeps its idle connections, keyed by the checked address and the
# URL's host, so a busy endpoint is not a TCP and TLS handshake per event. A connection is only
# ever reused for the very address a fresh check has just approved.
IDLE_REUSE_SECONDS = 20
MAX_IDLE_CONNECTIONS = 64
_local = threading.local()
_STALE = object()  # a reused connection the receiver had closed: try once more on a new one


def _idle() -> dict:
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    return pool


def _post_to(target: ssrf.Target, address: str, body: bytes, headers: dict[str, str],
             deadline: float) -> Result | None:
    """One attempt at one checked address; None when it refused the connection (try the next)."""
    key = (target.scheme, address, target.port, target.host)
    pooled = _idle().pop(key, None)
    if pooled is not None:
        conn, idle_since = pooled
        if time.monotonic() - idle_since < IDLE_REUSE_SECONDS:
            result = _exchange(key, conn, target, body, headers, deadline, reused=True)
            if result is not _STALE:
                return result
        else:
            conn.close()
    remaining = max(deadline - time.monotonic(), 0.001)
    if target.scheme == "https":
        conn = HTTPSConnection(address, target.port, timeout=remaining, server_hostname=target.host,
                               ssl_context=ssl_context())
    else:
        conn = HTTPConnection(address, target.port, timeout=remaining)
    return _exchange(key, conn, target, body, headers, deadline, reused=False)


def _exchange(key: tuple, conn: HTTPConnection, target: ssrf.Target, body: bytes, headers: dict[str, str],
              deadline: float, *, reused: bool):
    remaining = max(deadline - time.monotonic(), 0.001)
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    default_port = 443 if target.scheme == "https" else 80
    if target.port != default_port:
        host_header += f":{target.port}"
    # The deadline covers the whole attempt: a receiver that drips its answer a byte at a time
    # would otherwise reset the per-read timeout forever.
    watch = _watchdog.arm(deadline, conn)
    keep = False
    answered = False
    try:
        if reused:
            conn.sock.settimeout(remaining)
        else:
            try:
                conn.connect()
            except NewConnectionError as exc:  # refused, unreachable: the next address may answer
                if isinstance(exc.__cause__, TimeoutError) or time.monotonic() >= deadline:
                    return Result(ok=False, error="timeout")
                return None
            except ConnectTimeoutError:
                return Result(ok=False, error="timeout")
            peer = conn.sock.getpeername()[0] if conn.sock is not None else None
            if peer is not None and not settings.BNPL_WEBHOOK_ALLOW_PRIVATE and ssrf.address_refused(peer):
                return Result(ok=False, error="refused: forbidden_address")
        conn.request("POST", target.path, body=body,
                     headers={"Host": host_header, "Content-Type": "application/json", "User-Agent": USER_AGENT,
                              "Accept-Encoding": "identity", **headers},
                     preload_content=False, decode_content=False)
        response = conn.getresponse()
        answered = True
        answer = response.read(MAX_RESPONSE_BYTES, decode_content=False) or b""
        status = response.status
        text = answer[:MAX_RESPONSE_BYTES].decode("utf-8", errors="replace")
        keep = (response.length_remaining == 0 and response.version == 11
                and response.headers.get("Connection", "").lower() != "close")
        if 200 <= status < 300:
            return Result(ok=True, status_code=status, body=text)
        error = "redirect_not_followed" if 300 <= status < 400 else f"http_{status}"
        return Result(ok=False, status_code=status, body=text, error=error)
    except (TimeoutError, ReadTimeoutError, ConnectTimeoutError):
        return Result(ok=False, error="timeout")
    except ssl.SSLError as exc:
        return Result(ok=False, error=f"tls_error: {type(exc).__name__}"[:255])
    except (OSError, Urllib3Error, http.client.HTTPException, ValueError) as exc:
        if time.monotonic() >= deadline:
            return Result(ok=False, error="timeout")
        if reused and not answered:
            return _STALE
        return Result(ok=False, error=f"connection_error: {type(exc).__name__}"[:255])
    finally:
        _watchdog.disarm(watch)
        if keep:
            pool = _idle()
            if len(pool) >= MAX_IDLE_CONNECTIONS:
                pool.pop(next(iter(pool)))[0].close()
            pool[key] = (conn, time.monotonic())
        else:
            conn.close()


def _abort(conn: HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Watchdog:
    """One thread per process that aborts each attempt's socket at the attempt's deadline.

    A ``threading.Timer`` per attempt started (and tore down) a thread per POST, which cost more
    than the POST itself on a busy worker. Arming and disarming is a heap push and a dict
    operation under one lock; the thread sleeps until the earliest armed deadline.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, HTTPConnection] = {}
        self._tokens = itertools.count()
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float, conn: HTTPConnection) -> int:
        if self._pid != os.getpid():  # a forked worker: the parent's thread did not come along
            self._reset()
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webhook-watchdog", daemon=True)
                self._thread.start()
            token = next(self._tokens)
            self._armed[token] = conn
            heapq.heappush(self._heap, (deadline, token))
            if self._heap[0][1] == token:
                self._cond.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._cond:
            self._armed.pop(token, None)

    def _run(self) -> None:
        cond = self._cond
        with cond:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)  # disarmed: the attempt ended in time
                if not self._heap:
                    cond.wait()
                    continue
                deadline, token = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                conn = self._armed.pop(token, None)
                if conn is not None:
                    _abort(conn)


_watchdog = _Watchdog()
