"""JSON logs with the request id, and redaction of personal data as the second line of defence."""
import io
import json
import logging

import pytest
import time_machine

from bnpl.logging import REDACTED, RedactPersonalDataFilter, RequestIdFilter, redact

PHONE, PASSPORT, CARD = "+998901234567", "AA1234567", "4111111111111111"
RAW_FRAGMENTS = ["901234567", "998901234567", "4111111111111111", "4111 1111 1111 1111",
                 "4111-1111-1111-1111", "AA1234567", "aa1234567", "1111 1111"]


@pytest.mark.parametrize("raw", [
    "+998901234567", "998901234567", "+998 90 123 45 67", "+998-90-123-45-67", "90 123 45 67",
    "4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "4111 - 1111 - 1111 - 1111",
    "378282246310005", "AA1234567", "aa1234567", "AB12345", "FA0123456789",
])
def test_personal_data_is_redacted(raw):
    for text in (raw, f"value={raw}", f"x {raw} y", f'{{"card": "{raw}"}}', f"({raw})"):
        out = redact(text)
        assert REDACTED in out, (text, out)
        assert raw not in out


@pytest.mark.parametrize("text", [
    "550e8400-e29b-41d4-a716-446655440000",  # a UUID's 12-digit group is not a phone number
    "req 0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "amount 1000.00 UZS", "overdue 123456.78", "2026-01-31", "2026-01-31T10:00:00+05:00",
    "installments 12", "status 503 in 12.5 ms", "bnpl_AbCdEf123456",
])
def test_ordinary_values_are_kept(text):
    assert redact(text) == text


def _pipeline() -> tuple[logging.Logger, io.StringIO]:
    """A logger whose handler is built like settings.LOGGING's console handler."""
    from pythonjsonlogger.json import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactPersonalDataFilter())
    logger = logging.getLogger("bnpl.tests.redaction")
    logger.handlers, logger.propagate, logger.level = [handler], False, logging.DEBUG
    return logger, stream


def _assert_clean(output: str):
    for fragment in RAW_FRAGMENTS:
        assert fragment not in output, (fragment, output)


def test_redacts_inside_args_and_message():
    logger, stream = _pipeline()
    logger.info("user phone %s passport %s", PHONE, PASSPORT)
    logger.warning("card %s", "4111 1111 1111 1111")
    logger.warning("card %(card)s", {"card": "4111-1111-1111-1111"})
    logger.error(f"inline {CARD}")
    output = stream.getvalue()
    _assert_clean(output)
    lines = [json.loads(line) for line in output.splitlines()]
    assert len(lines) == 4 and all(REDACTED in line["message"] for line in lines)


def test_redacts_exception_text_and_traceback():
    logger, stream = _pipeline()
    try:
        raise ValueError(f"bad card {CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]} for passport aa1234567")
    except ValueError:
        logger.exception("failed for %s", PHONE)
    output = stream.getvalue()
    _assert_clean(output)
    line = json.loads(output)
    assert "ValueError" in line["exc_info"] and REDACTED in line["exc_info"]


def test_redacts_extra_fields_and_nested_values():
    logger, stream = _pipeline()
    logger.info("lookup", extra={"phone": PHONE, "payload": {"card": "4111 1111 1111 1111", "n": [PASSPORT, 3]}})
    output = stream.getvalue()
    _assert_clean(output)
    line = json.loads(output)
    assert line["phone"] == REDACTED and line["payload"]["n"] == [REDACTED, 3]


def test_configured_handlers_redact():
    """The real LOGGING config puts both filters on the console handler used by every logger."""
    console = [h for h in logging.getLogger().handlers if any(isinstance(f, RedactPersonalDataFilter)
                                                               for f in h.filters)]
    assert console, "no root handler carries the redaction filter"
    assert any(isinstance(f, RequestIdFilter) for f in console[0].filters)


@pytest.fixture
def captured_logs():
    """Swap the stream of the configured console handler: the exact production pipeline, captured."""
    handler = next(h for h in logging.getLogger().handlers
                   if any(isinstance(f, RedactPersonalDataFilter) for f in h.filters))
    buffer = io.StringIO()
    old = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(old)


@pytest.mark.django_db
def test_full_flow_logs_json_access_lines_without_personal_data(client_api, captured_logs):
    body = {"full_name": "Log Person", "phone_number": PHONE, "passport_number": PASSPORT,
            "date_of_birth": "1990-05-17", "card_number": "4111 1111 1111 1111"}
    created = client_api.post("/api/v1/users/", body, HTTP_X_REQUEST_ID="flow-create-1")
    assert created.status_code == 201
    user_id = created.json()["id"]
    fetched = client_api.get(f"/api/v1/users/{user_id}/")
    listed = client_api.get(f"/api/v1/users/?phone_number={PHONE.replace('+', '%2B')}")
    assert listed.status_code == 200 and len(listed.json()["results"]) == 1
    # A careless library message on the way: the filter catches it.
    logging.getLogger("some.library").warning("retrying for %s / %s", PHONE, CARD)

    output = captured_logs.getvalue()
    _assert_clean(output)
    records = [json.loads(line) for line in output.splitlines()]  # every line is JSON
    access = [r for r in records if r["logger"] == "bnpl.access"]
    assert [(r["method"], r["route"], r["status"]) for r in access] == [
        ("POST", "/api/v1/users/", 201),
        ("GET", "/api/v1/users/<pk>/", 200),
        ("GET", "/api/v1/users/", 200),
    ]
    assert [r["request_id"] for r in access] == [
        "flow-create-1", fetched["X-Request-ID"], listed["X-Request-ID"]]
    assert all(isinstance(r["duration_ms"], (int, float)) and r["duration_ms"] >= 0 for r in access)
    assert all({"time", "level", "message"} <= set(r) for r in records)
    assert user_id not in output  # the route pattern, never the raw path
    assert any(r["logger"] == "some.library" and REDACTED in r["message"] for r in records)


@pytest.mark.django_db
def test_probe_lines_are_debug_and_failures_are_info(anon_api, caplog):
    with caplog.at_level(logging.DEBUG, logger="bnpl.access"):
        anon_api.get("/api/v1/health/live/")
        anon_api.get("/api/v1/users/")
    levels = {r.route: r.levelno for r in caplog.records if r.name == "bnpl.access"}
    assert levels == {"/api/v1/health/live/": logging.DEBUG, "/api/v1/users/": logging.INFO}


def test_django_request_records_do_not_leak_the_query_string(rf):
    """django.request attaches the request object; its repr carries a percent-encoded phone."""
    import logging as std_logging

    from bnpl.logging import RedactPersonalDataFilter

    request = rf.get("/api/v1/users/", {"phone_number": "+998912223344", "status": "BAD"})
    record = std_logging.LogRecord("django.request", std_logging.ERROR, __file__, 1, "Internal Server Error: %s",
                                   (request.path,), None)
    record.request = request
    record.status_code = 500
    RedactPersonalDataFilter().filter(record)
    rendered = " ".join(str(v) for v in vars(record).values())
    assert "998912223344" not in rendered
    assert record.request == "GET /api/v1/users/"


def test_percent_encoded_phone_in_a_message_is_redacted():
    from bnpl.logging import redact

    assert "998912223344" not in redact("GET /api/v1/users/?phone_number=%2B998912223344")


@pytest.mark.parametrize("route,method,status", [
    ("/api/v1/users/<pk>/", "GET", 200), ("unmatched", "BREW", 405), ("/api/v1/plans/", "POST", 201),
    ("/api/v1/users/", "AB1234567", 400),  # a caller-chosen method that looks like a passport: redacted
])
def test_the_access_line_short_path_writes_what_python_json_logger_writes(route, method, status):
    """bnpl.logging.JsonFormatter's short path for bnpl.access: the same bytes as the generic formatter."""
    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter as Generic

    from bnpl.logging import JsonFormatter

    config = {k: v for k, v in settings.LOGGING["formatters"]["json"].items() if k != "()"}
    assert settings.LOGGING["formatters"]["json"]["()"] == "bnpl.logging.JsonFormatter"
    short = JsonFormatter(**config)
    short.add_fields = None  # the short path never reaches python-json-logger's field merging
    lines = []
    for formatter in (short, Generic(**config)):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        handler.addFilter(RedactPersonalDataFilter())
        logger = logging.getLogger("bnpl.access")
        old = logger.handlers, logger.propagate, logger.level
        logger.handlers, logger.propagate, logger.level = [handler], False, logging.DEBUG
        try:
            with time_machine.travel("2026-05-17 10:00:00.123+00:00", tick=False):
                logger.info("request", extra={"method": method, "route": route, "status": status,
                                              "duration_ms": 12.34})
        finally:
            logger.handlers, logger.propagate, logger.level = old
        lines.append(stream.getvalue())
    assert lines[0] == lines[1]
    assert json.loads(lines[0])["logger"] == "bnpl.access"
    assert ("AB1234567" in lines[0]) is False
