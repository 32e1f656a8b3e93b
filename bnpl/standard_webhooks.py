"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

``webhook-signature`` is a space-separated list of ``v1,<base64 HMAC-SHA256>`` entries over
``"{webhook-id}.{webhook-timestamp}.{raw body}"``, keyed with the base64 part of the
merchant's ``whsec_`` secret. Any one valid entry is enough (senders list several while
they rotate). Every failure is the same :class:`InvalidSignature`, whatever the reason.

:func:`sign` is the sending side too: outbound events sign with it, which is why this lives in
the platform layer (any app may import it). :func:`verify_request` is the whole receiving side:
headers, timestamp, a bounded parse of the body to learn who claims to send it, and the HMAC
over the raw bytes with that sender's secret.
"""
import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from bnpl.errors import InvalidSignature
from bnpl.parsers import loads_decimal

Sender = TypeVar("Sender")
Sender_co = TypeVar("Sender_co", covariant=True)


class KeyLookup(Protocol[Sender_co]):
    """``key_for(payload=...)``: the sender a parsed body claims and its current secret, or None."""

    def __call__(self, *, payload: Any) -> tuple[Sender_co, str] | None: ...

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
VERSION = "v1"
# Unix seconds as plain ASCII digits, at most 12 of them (year 33658): int() would read Unicode
# digits and thousands of them, and a float compare of a 309-digit one overflows.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature() from None


def sign(*, secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one message (what a merchant sends, what outbound events carry)."""
    payload = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), payload, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode()}"


def parse_timestamp(raw: str | None, *, tolerance_seconds: int, now: float | None = None) -> int:
    """``webhook-timestamp`` as unix seconds, within ``tolerance_seconds`` of now either way."""
    if raw is None or not _TIMESTAMP.fullmatch(raw):
        raise InvalidSignature()
    timestamp = int(raw)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_seconds:
        raise InvalidSignature()
    return timestamp


def verify(*, secret: str, msg_id: str, timestamp: int, body: bytes, signature_header: str) -> None:
    """Raise :class:`InvalidSignature` unless one ``v1`` entry matches (constant-time compare)."""
    expected = sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body).encode()
    matched = False
    for entry in signature_header.split(" "):
        version, _, value = entry.partition(",")
        if version == VERSION and value:
            # No early exit: every entry is compared, so timing says nothing about which matched.
            matched |= hmac.compare_digest(f"{VERSION},{value}".encode(), expected)
    if not matched:
        raise InvalidSignature()


@dataclass(frozen=True)
class VerifiedMessage(Generic[Sender]):
    """A webhook whose signature checked out: who sent it and what (the body parsed, not validated)."""

    msg_id: str
    timestamp: int
    payload: Any
    sender: Sender


def verify_request(*, headers: Mapping[str, str], body: bytes,
                   key_for: KeyLookup[Sender], tolerance_seconds: int,
                   now: float | None = None) -> VerifiedMessage[Sender]:
    """Verify a Standard Webhooks request, or raise :class:`InvalidSignature` (one answer for all).

    ``key_for(payload=...)`` names the sender the parsed body claims and that sender's current
    secret (``None``: no such sender). The body is parsed only to find the key, with the same
    bounded parser as the API (depth 32, no floats); a body that does not parse cannot be verified.
    """
    msg_id = headers.get("webhook-id", "")
    signature_header = headers.get("webhook-signature", "")
    if not msg_id or not signature_header:
        raise InvalidSignature()
    timestamp = parse_timestamp(headers.get("webhook-timestamp"), tolerance_seconds=tolerance_seconds, now=now)
    try:
        payload = loads_decimal(body.decode())
    except (ValueError, UnicodeDecodeError):
        raise InvalidSignature() from None
    claimed = key_for(payload=payload)
    if claimed is None:
        raise InvalidSignature()
    sender, secret = claimed
    verify(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body, signature_header=signature_header)
    return VerifiedMessage(msg_id=msg_id, timestamp=timestamp, payload=payload, sender=sender)
