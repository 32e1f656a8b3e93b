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
        try:
            return loads_decimal(stream.read().decode(encoding))
        except (ValueError, UnicodeDecodeError):
            raise ParseError("The body is not valid JSON.") from None
