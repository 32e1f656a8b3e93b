"""Signed merchant webhooks, built the way a merchant's Standard Webhooks library would."""
import json
import time
import uuid

from webhooks.signature import sign

URL = "/webhook/refund-status/"


def webhook_body(*, merchant, refund=None, status="APPROVED", **data) -> bytes:
    fields = {"merchant_id": str(merchant.pk), "status": status, **data}
    if refund is not None:
        fields.setdefault("refund_id", str(refund.pk))
    payload = {"type": "refund.status_changed", "timestamp": "2026-01-31T10:00:00+05:00", "data": fields}
    return json.dumps(payload).encode()


def signed_headers(*, secret: str, body: bytes, msg_id: str | None = None, timestamp: int | None = None,
                   signature: str | None = None) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    if signature is None:
        signature = sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)
    return {"HTTP_WEBHOOK_ID": msg_id, "HTTP_WEBHOOK_TIMESTAMP": str(timestamp), "HTTP_WEBHOOK_SIGNATURE": signature}


def post_webhook(api, *, merchant, body: bytes | None = None, secret: str | None = None, **kwargs):
    """POST a webhook signed with ``secret`` (default: the merchant's current one)."""
    body = body if body is not None else webhook_body(merchant=merchant, **kwargs.pop("body_kwargs", {}))
    headers = signed_headers(secret=secret or merchant.webhook_secret, body=body, **kwargs)
    return api.post(URL, body, content_type="application/json", **headers)
