"""Logging filters: the request id on every record, and redaction of personal data.

Services never log raw personal data; :class:`RedactPersonalDataFilter` is the second
line of defence for anything that slips through (a library's message, an exception,
an ``extra=`` field). It is attached to the handler, so every logger's records pass it.
"""
import logging
import re

from django.http import HttpRequest

from bnpl.middleware import request_id_var

# Digit runs (spaces and dashes allowed) with 9+ digits: card and phone numbers, but not
# dates, amounts or small counts. Not inside a longer token (a UUID's last group, a hex id).
_DIGIT_RUN = re.compile(r"(?<![\w\-])\+?\d[\d \-]{7,30}\d(?![\w\-])")
# Passport-like tokens: 1-3 letters then 5-12 digits, any case (input is accepted in any case).
_PASSPORT = re.compile(r"\b[A-Za-z]{1,3}\d{5,12}\b")
REDACTED = "[REDACTED]"

# Attributes every LogRecord has; anything else came from ``extra=`` and is redacted too.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _redact_digits(match: re.Match) -> str:
    return REDACTED if sum(ch.isdigit() for ch in match.group()) >= 9 else match.group()


def redact(text: str) -> str:
    # A query string carries "+998..." percent-encoded; decode the plus so the run is seen.
    text = text.replace("%2B", "+").replace("%2b", "+")
    return _PASSPORT.sub(REDACTED, _DIGIT_RUN.sub(_redact_digits, text))


def _redact_value(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, HttpRequest):
        # django.request puts the request itself on the record; its repr has the query string.
        return f"{value.method} {value.path}"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))


class RedactPersonalDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed format string must not lose the record
            message = f"{record.msg} {record.args}"
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRS and name != "request_id":
                setattr(record, name, _redact_value(value))
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True
