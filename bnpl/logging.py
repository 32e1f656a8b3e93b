"""Logging filters: the request id on every record, and redaction of personal data.

Services never log raw personal data; :class:`RedactPersonalDataFilter` is the second
line of defence for anything that slips through (a library's message, an exception).
"""
import logging
import re

from bnpl.middleware import request_id_var

# Digit runs (spaces and dashes allowed) with 9+ digits: card and phone numbers, but
# not dates or small counts. Passport-like letter+digit tokens.
_DIGIT_RUN = re.compile(r"\+?\d[\d \-]{7,30}\d")
_PASSPORT = re.compile(r"\b[A-Z]{1,3}\d{5,12}\b")


def _redact_digits(match: re.Match) -> str:
    return "[REDACTED]" if sum(ch.isdigit() for ch in match.group()) >= 9 else match.group()


def redact(text: str) -> str:
    return _PASSPORT.sub("[REDACTED]", _DIGIT_RUN.sub(_redact_digits, text))


class RedactPersonalDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True
