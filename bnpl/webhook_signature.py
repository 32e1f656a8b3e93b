"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

``webhook-signature`` is a space-separated list of ``v1,<base64 HMAC-SHA256>`` entries over
``"{webhook-id}.{webhook-timestamp}.{raw body}"``, keyed with the base64 part of a ``whsec_``
secret: a merchant's (inbound webhook) or a webhook endpoint's (outbound events). Any one valid
entry is enough (senders list several while they rotate). Every failure is the same
:class:`InvalidSignature`, whatever the reason.
"""
import base64
import binascii
import hashlib
import hmac
import time

from bnpl.errors import InvalidSignature

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
VERSION = "v1"


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature() from None


def sign(*, secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one message (what a merchant sends, what events send)."""
    payload = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), payload, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode()}"


def parse_timestamp(raw: str | None, *, tolerance_seconds: int, now: float | None = None) -> int:
    """``webhook-timestamp`` as unix seconds, within ``tolerance_seconds`` of now either way."""
    if not raw or not raw.isascii() or not raw.isdigit():
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
