"""Money (API.md §0): Decimal end to end, request rules, two-place output, never a float."""
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import path as url_path
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from bnpl.money import CENT, MAX_AMOUNT, MoneyField, cents, format_money
from bnpl.parsers import DecimalJSONParser, loads_decimal

ROOT = Path(__file__).resolve().parents[2]
APPS = ["bnpl", "users", "merchants", "plans", "debt", "refunds", "webhooks"]
# Non-test files allowed to call float(), each with the reason. Deliberately empty.
FLOAT_ALLOWLIST: dict[str, str] = {}


@pytest.mark.parametrize(("raw", "expected"), [
    ("10", "10.00"), ("10.5", "10.50"), ("10.50", "10.50"), (" 7.25 ", "7.25"), ("0.01", "0.01"),
    (10, "10.00"), (Decimal("10.5"), "10.50"), ("999999999999.99", "999999999999.99"),
])
def test_accepted_amounts(raw, expected):
    value = MoneyField().to_internal_value(raw)
    assert isinstance(value, Decimal)
    assert f"{value:f}" == expected


@pytest.mark.parametrize(("raw", "code"), [
    ("0", "positive"), (0, "positive"), ("0.00", "positive"), ("-1", "positive"), (-5, "positive"),
    ("1.005", "max_places"), ("0.001", "max_places"), (Decimal("10.999"), "max_places"),
    ("1000000000000", "max_value"), (10 ** 12, "max_value"), ("99999999999999", "max_value"),
    ("1e12", "invalid"), ("1e2", "invalid"), ("+5", "invalid"), ("1.000", "max_places"),
    ("NaN", "invalid"), ("Infinity", "invalid"), ("-Infinity", "invalid"), ("sNaN", "invalid"),
    (True, "invalid"), (False, "invalid"), (10.5, "invalid"), (10.0, "invalid"),
    ("", "invalid"), ("abc", "invalid"), ("1,5", "invalid"), (None, "invalid"), ([1], "invalid"), ({}, "invalid"),
])
def test_refused_amounts(raw, code):
    with pytest.raises(ValidationError) as info:
        MoneyField().to_internal_value(raw)
    assert info.value.get_codes() == [code]


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("1000"), "1000.00"), (Decimal("0"), "0.00"), (Decimal("333.3"), "333.30"),
    (Decimal("1E+3"), "1000.00"), (Decimal("12.34"), "12.34"),
])
def test_output_has_exactly_two_places(value, text):
    assert MoneyField().to_representation(value) == text == format_money(value)


def test_cents_rounds_toward_zero():
    assert cents(Decimal("333.3333")) == Decimal("333.33")
    assert cents(Decimal("0.019")) == CENT
    assert MAX_AMOUNT == Decimal("1000000000000")


def test_json_numbers_parse_as_decimal_through_the_parser():
    data = DecimalJSONParser().parse(io.BytesIO(b'{"a": 10.5, "b": 10, "c": 1e2, "d": 0.1}'))
    assert data == {"a": Decimal("10.5"), "b": 10, "c": Decimal("1e2"), "d": Decimal("0.1")}
    assert all(not isinstance(v, float) for v in data.values())
    assert MoneyField().to_internal_value(data["a"]) == Decimal("10.50")
    assert MoneyField().to_internal_value(data["b"]) == Decimal("10.00")


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}'])
def test_non_finite_json_constants_are_a_parse_error(body):
    with pytest.raises(ParseError):
        DecimalJSONParser().parse(io.BytesIO(body))
    with pytest.raises(ValueError):
        loads_decimal(body.decode())


def _code_files():
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if "/tests/" in f"/{rel}" or "/migrations/" in rel or path.name == "conftest.py":
                continue
            yield rel, path


def test_no_float_in_the_code_path():
    call = re.compile(r"\bfloat\s*\(")
    offenders = []
    for rel, path in _code_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if call.search(code) and rel not in FLOAT_ALLOWLIST:
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert offenders == [], "float() in the code path:\n" + "\n".join(offenders)


def test_the_float_scan_sees_the_code():
    files = {rel for rel, _ in _code_files()}
    assert {"bnpl/money.py", "users/services.py", "merchants/services.py"} <= files
    assert not any("/tests/" in f for f in files)


# --- over HTTP, through the real parser and renderer --------------------------------------

class _AmountSerializer(serializers.Serializer):
    amount = MoneyField()


@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def echo_amount(request):
    data = _AmountSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    assert isinstance(data.validated_data["amount"], Decimal)
    return Response(_AmountSerializer(data.validated_data).data)


urlpatterns = [url_path("api/v1/echo-amount/", echo_amount)]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(("body", "echoed"), [
    (b'{"amount": 10}', "10.00"), (b'{"amount": 10.5}', "10.50"), (b'{"amount": "10.5"}', "10.50"),
    (b'{"amount": 0.1}', "0.10"), (b'{"amount": 999999999999.99}', "999999999999.99"),
])
def test_json_numbers_and_strings_over_http(anon_api, body, echoed):
    r = anon_api.post("/api/v1/echo-amount/", body, content_type="application/json")
    assert r.status_code == 200 and r.json() == {"amount": echoed}
    assert f'"{echoed}"'.encode() in r.content  # a string on the wire, never a number


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("body", [b'{"amount": 1.005}', b'{"amount": 0}', b'{"amount": -1}', b'{"amount": true}',
                                  b'{"amount": 1e12}', b'{"amount": "NaN"}', b'{"amount": null}'])
def test_bad_amounts_over_http_are_400_validation_error(anon_api, body):
    r = anon_api.post("/api/v1/echo-amount/", body, content_type="application/json")
    assert r.status_code == 400
    assert r.json()["code"] == "validation_error" and r.json()["errors"][0]["attr"] == "amount"


# --- Properties: every amount a client can send round-trips exactly; nothing else gets in ---------

_CENTS = st.integers(min_value=1, max_value=10 ** 14 - 1)  # 0.01 .. 999999999999.99


@settings(max_examples=300, deadline=None)
@given(cents=_CENTS)
def test_any_valid_amount_round_trips_as_string_and_number(cents):
    value = Decimal(cents).scaleb(-2)
    text = f"{value:f}"
    assert MoneyField().to_internal_value(text) == value
    assert MoneyField().to_internal_value(value) == value  # a JSON number, parsed as Decimal
    assert MoneyField().to_representation(MoneyField().to_internal_value(text)) == f"{value:.2f}"


@settings(max_examples=200, deadline=None)
@given(cents=_CENTS, extra=st.integers(min_value=1, max_value=9))
def test_a_third_decimal_place_is_always_refused(cents, extra):
    text = f"{Decimal(cents).scaleb(-2):f}{extra}"
    with pytest.raises(ValidationError) as info:
        MoneyField().to_internal_value(text)
    assert info.value.get_codes() in (["max_places"], ["max_value"])


@settings(max_examples=200, deadline=None)
@given(number=st.floats(allow_nan=True, allow_infinity=True))
def test_a_float_is_never_accepted(number):
    with pytest.raises(ValidationError):
        MoneyField().to_internal_value(number)
