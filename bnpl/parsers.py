"""JSON in, with numbers parsed as ``Decimal``: a float never enters the code path.

Nesting is bounded (``MAX_DEPTH``, API.md §0): Python's ``json`` recurses once per level, so a
body of 100,000 ``[`` would otherwise end in ``RecursionError`` (a 500) before any check ran.
"""
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


class JSONTooDeep(ValueError):
    """The document nests arrays/objects deeper than ``MAX_DEPTH``."""


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _depth_exceeds(value, limit: int) -> bool:
    """True when ``value`` nests containers more than ``limit`` deep (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def loads_decimal(text: str, *, max_depth: int = MAX_DEPTH):
    """``json.loads`` with ``Decimal`` numbers, no NaN/Infinity, and at most ``max_depth`` levels.

    Raises ``ValueError`` (``JSONTooDeep`` for nesting) for anything that is not such a document.
    """
    # Fewer brackets than the limit cannot nest past it: the usual small body skips the walk.
    openers = text.count("[") + text.count("{")
    try:
        parsed = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except RecursionError:
        raise JSONTooDeep(f"nested deeper than {max_depth} levels") from None
    if openers > max_depth and _depth_exceeds(parsed, max_depth):
        raise JSONTooDeep(f"nested deeper than {max_depth} levels")
    return parsed


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
        except JSONTooDeep:
            raise ParseError(f"The body nests deeper than {MAX_DEPTH} levels.") from None
        except (ValueError, UnicodeDecodeError, LookupError):
            # LookupError: an unknown charset named in Content-Type.
            raise ParseError("The body is not valid JSON.") from None
