"""Logging filters: the request id on every record, and redaction of personal data.

Services never log raw personal data; :class:`RedactPersonalDataFilter` is the second
line of defence for anything that slips through (a library's message, an exception,
an ``extra=`` field). It is attached to the handler, so every logger's records pass it.
"""
import json
import logging
import logging.config
import re

from django.http import HttpRequest
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from bnpl.middleware import request_id_var

# Digit runs (spaces and dashes allowed) with 9+ digits: card and phone numbers, but not
# dates, amounts or small counts. Not inside a longer token (a UUID's last group, a hex id).
_DIGIT_RUN = re.compile(r"(?<![\w\-])\+?\d[\d \-]{7,30}\d(?![\w\-])")
# Passport-like tokens: 1-3 letters then 5-12 digits, any case (input is accepted in any case).
_PASSPORT = re.compile(r"\b[A-Za-z]{1,3}\d{5,12}\b")
REDACTED = "[REDACTED]"
# Every match of either pattern holds a run of 5+ digits, spaces or dashes from a digit to a digit:
# text without one is returned as it is, at the cost of one search.
_CANDIDATE = re.compile(r"\d[\d \-]{3,}\d")

# Attributes every LogRecord has; anything else came from ``extra=`` and is redacted too.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _redact_digits(match: re.Match) -> str:
    return REDACTED if sum(ch.isdigit() for ch in match.group()) >= 9 else match.group()


def redact(text: str) -> str:
    if not _CANDIDATE.search(text):
        return text
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


def configure(config: dict) -> None:
    """``LOGGING_CONFIG``: ``dictConfig(LOGGING)``, without gathering what no line of ours writes.

    By default every record looks up its caller's file, line and function (a walk up the stack)
    and its thread's and process's names; the JSON lines (``LOGGING["formatters"]``) write none of
    them, and the access line is written once per request. These are the switches the logging
    HOWTO's "Optimization" section names; the process id stays (gunicorn's own lines show it).
    Production only (``bnpl.settings.production``): development and the tests keep the caller in
    their records, for pytest's reports and a text handler. About 2 us of the access line's 14
    (bench/RESULTS.md, "Request path, seventh pass").
    """
    logging._srcfile = None  # the documented switch for findCaller
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.config.dictConfig(config)


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


# The access line's own fields, in the order python-json-logger writes them; a record with
# anything more (or less) than these and ``request_id`` takes the generic path.
_ACCESS_FIELDS = ("method", "route", "status", "duration_ms")
_ACCESS_RECORD_SIZE = len(vars(logging.LogRecord("", 0, "", 0, "", None, None))) + len(_ACCESS_FIELDS) + 1


class JsonFormatter(_JsonFormatter):
    """python-json-logger's formatter, with a short path for the one line every request writes.

    A ``bnpl.access`` record carries exactly the fields ``bnpl.middleware`` gives it (strings,
    an int and a float, already through the redaction filter): it is written as the generic path
    would write it (same keys, order and encoding: ``test_logging.py`` compares the two) without
    python-json-logger's field-by-field merging, which cost as much as the rest of the line.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The short path writes what the generic one would only for the settings' shape of line.
        self._access_keys = None
        if (self._required_fields == ["asctime", "levelname", "name", "message", "request_id"]
                and not (self.static_fields or self.defaults or self.timestamp or self.rename_fields_keep_missing
                         or self.prefix or self.json_indent or self.json_default)
                and self.json_ensure_ascii and self.json_serializer is json.dumps):
            self._access_keys = [self._get_rename(f) for f in self._required_fields]

    def format(self, record: logging.LogRecord) -> str:
        d = record.__dict__
        if (self._access_keys is None or record.name != "bnpl.access" or len(d) != _ACCESS_RECORD_SIZE
                or record.args or record.exc_info
                or record.exc_text or record.stack_info or not isinstance(record.msg, str)):
            return super().format(record)
        try:
            time_key, level_key, logger_key, message_key, request_id_key = self._access_keys
            line = {time_key: self.formatTime(record, self.datefmt), level_key: record.levelname,
                    logger_key: record.name, message_key: record.msg, request_id_key: d["request_id"]}
            for name in _ACCESS_FIELDS:
                line[name] = d[name]
        except KeyError:  # not the middleware's record: the generic path
            return super().format(record)
        return json.dumps(line)
