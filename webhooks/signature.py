"""The inbound webhook's view of the Standard Webhooks signing code.

One implementation for both directions lives in ``bnpl/webhook_signature.py`` (the outbound
events app sits below ``webhooks`` and signs with the same code); this module keeps the
names the inbound webhook imports.
"""
from bnpl.webhook_signature import SECRET_PREFIX, VERSION, parse_timestamp, sign, verify

__all__ = ["SECRET_PREFIX", "VERSION", "parse_timestamp", "sign", "verify"]
