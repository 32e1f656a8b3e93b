"""Cursor pagination: ``?limit=`` (default 50, max 200), ``{"next", "previous", "results"}``.

The cursor is opaque to callers but readable by anyone (base64 of ``o=&r=&p=``), so it is
input like any other: a tampered one is a 400 ``validation_error`` on ``cursor``, never a
query with a position the database cannot compare (DRF would reach a 500 on ``p=x``).
"""
import re
from base64 import b64decode
from binascii import Error as Base64Error
from typing import Any, cast
from urllib import parse

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.pagination import Cursor, CursorPagination

_ASCII_INT = re.compile(r"[0-9]{1,9}")
_BASE64 = re.compile(r"[A-Za-z0-9+/=_-]{1,512}")


def _invalid(attr: str, detail: str) -> ValidationError:
    return ValidationError({attr: [ErrorDetail(detail, code="invalid")]})


class CreatedCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    # ``id`` breaks ties between rows created in the same microsecond.
    ordering: tuple[str, ...] = ("-created_at", "-id")

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        # ASCII digits only: int() would also read "٥" (Arabic-Indic five) as 5.
        if not _ASCII_INT.fullmatch(raw) or int(raw) < 1:
            raise _invalid(self.page_size_query_param,
                           f"Must be a whole number from 1 to {self.max_page_size} (larger is capped).")
        return min(int(raw), self.max_page_size)

    def decode_cursor(self, request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        error = _invalid(self.cursor_query_param, "Not a cursor this API issued; follow `next` or `previous`.")
        if not _BASE64.fullmatch(encoded):
            raise error
        try:
            tokens = parse.parse_qs(b64decode(encoded.encode("ascii")).decode("ascii"), keep_blank_values=True,
                                    strict_parsing=True, max_num_fields=3)
        except (Base64Error, UnicodeDecodeError, ValueError):
            raise error from None
        if set(tokens) - {"o", "r", "p"} or any(len(values) != 1 for values in tokens.values()):
            raise error
        offset, reverse = tokens.get("o", ["0"])[0], tokens.get("r", ["0"])[0]
        position = tokens.get("p", [None])[0]
        if not _ASCII_INT.fullmatch(offset) or int(offset) > self.offset_cutoff or reverse not in ("0", "1"):
            raise error
        # The position is the first ordering field's value, always a timestamp here.
        if position is not None and (not position.isascii() or _parse_timestamp(position) is None):
            raise error
        # DRF types the position as an int; it is the ordering field's value as text (a timestamp here).
        return Cursor(offset=int(offset), reverse=reverse == "1", position=cast(Any, position))


def _parse_timestamp(value: str):
    try:
        parsed = parse_datetime(value)
    except ValueError:  # well formed but out of range ("2026-13-45 ...")
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None
