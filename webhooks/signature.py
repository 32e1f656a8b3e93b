"""The merchant webhook's signatures: Standard Webhooks, implemented once in the platform layer."""
from bnpl.standard_webhooks import (
    SECRET_PREFIX,
    VERSION,
    VerifiedMessage,
    parse_timestamp,
    sign,
    verify,
    verify_request,
)

__all__ = ["SECRET_PREFIX", "VERSION", "VerifiedMessage", "parse_timestamp", "sign", "verify", "verify_request"]
