"""Request fields that accept exactly the wire forms of API.md §0 and nothing Python would also read.

Python's ``int()``, ``uuid.UUID()``, ``Decimal()`` and the ``\\d`` of ``re`` accept every Unicode
decimal digit: ``int("٥")`` is 5 and a UUID spelled in Arabic-Indic digits names the same row as
its ASCII twin. And ``date.fromisoformat`` (which Django's date parsing tries first) reads the basic
form ``19900101``. These fields take ASCII ``0-9`` only and dates only as ``YYYY-MM-DD``.
"""
import re
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import django_filters
from django import forms
from rest_framework import serializers

# Canonical 8-4-4-4-12 or the same 32 hex digits without hyphens; nothing else uuid.UUID() reads
# (braces, "urn:uuid:", underscores, non-ASCII digits).
UUID_PATTERN = r"[0-9A-Fa-f]{8}(-?)[0-9A-Fa-f]{4}\1[0-9A-Fa-f]{4}\1[0-9A-Fa-f]{4}\1[0-9A-Fa-f]{12}"
_UUID = re.compile(UUID_PATTERN)
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_uuid(value) -> uuid.UUID | None:
    """``value`` as a UUID if it is one written in ASCII hex, else ``None``."""
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        return None
    return uuid.UUID(value)


def parse_date(value) -> date | None:
    """``value`` as a date if it is exactly ``YYYY-MM-DD`` (ASCII) and a real day, else ``None``."""
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:  # 2026-02-30
        return None


class StrictUUIDField(serializers.UUIDField):
    """A UUID written as a JSON string of ASCII hex (DRF would also take an integer or "٠٠…")."""

    def to_internal_value(self, data) -> uuid.UUID:
        parsed = parse_uuid(data)
        if parsed is None:
            self.fail("invalid", value="")
        return parsed


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, or a string of ASCII digits; a number with a zero fraction (``3.0``) too."""

    def to_internal_value(self, data) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, Decimal):  # JSON numbers with a point arrive as Decimal (bnpl.parsers)
            if not data.is_finite() or data != data.to_integral_value() or abs(data) >= 10 ** 18:
                self.fail("invalid")
            data = int(data)
        if isinstance(data, str):
            if not _INTEGER.fullmatch(data):
                self.fail("invalid")
            data = int(data)
        if not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictDateField(serializers.DateField):
    """A date exactly ``YYYY-MM-DD``, optionally bounded below by ``min_value``."""

    default_error_messages = {
        "invalid": "Must be a date written exactly YYYY-MM-DD.",
        "min_value": "Must be {min_value} or later.",
    }

    def __init__(self, *, min_value: date | None = None, **kwargs):
        self.min_value = min_value
        super().__init__(**kwargs)

    def to_internal_value(self, value) -> date:
        parsed = parse_date(value)
        if parsed is None:
            self.fail("invalid")
        if self.min_value is not None and parsed < self.min_value:
            self.fail("min_value", min_value=self.min_value.isoformat())
        return parsed


class _StrictFormField(forms.Field):
    """A query parameter's form field: empty is None; what ``parse`` rejects is ``invalid`` with ``message``."""

    parse: Callable[[Any], Any]
    message: str

    def to_python(self, value):
        if value in self.empty_values:
            return None
        parsed = type(self).parse(value)
        if parsed is None:
            raise forms.ValidationError(self.message, code="invalid")
        return parsed


class StrictUUIDFormField(_StrictFormField, forms.UUIDField):
    parse = staticmethod(parse_uuid)
    message = "Must be a UUID."


class StrictDateFormField(_StrictFormField, forms.DateField):
    parse = staticmethod(parse_date)
    message = "Must be a date written exactly YYYY-MM-DD."


class StrictUUIDFilter(django_filters.UUIDFilter):
    """``?x_id=``: a UUID in ASCII hex, else 400 ``validation_error`` on ``x_id``."""

    field_class = StrictUUIDFormField


class StrictDateFilter(django_filters.DateFilter):
    """``?date=``: exactly ``YYYY-MM-DD``, else 400 ``validation_error``."""

    field_class = StrictDateFormField
