"""JSON in, with numbers parsed as ``Decimal``: a float never enters the code path."""
import json
from decimal import Decimal

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def loads_decimal(text: str):
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


class DecimalJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # DRF streams the body past Django's size check: enforce it here.
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            from bnpl.errors import RequestTooLarge  # bnpl.errors imports DRF, which imports this module

            raise RequestTooLarge()
        try:
            return loads_decimal(raw.decode(encoding))
        except (ValueError, UnicodeDecodeError):
            raise ParseError("The body is not valid JSON.") from None
