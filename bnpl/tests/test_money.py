"""Money (API.md §0): Decimal at the edges, int minor units inside, request rules, the currency's places."""
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import path as url_path
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from bnpl.api_fields import MoneyField
from bnpl.money import MAX_AMOUNT, exponent, format_minor, from_minor, to_minor
from bnpl.parsers import DecimalJSONParser, loads_decimal

ROOT = Path(__file__).resolve().parents[2]
APPS = ["bnpl", "users", "merchants", "plans", "debt", "refunds", "webhooks"]
# Non-test files allowed to call float(), each with the reason. Deliberately empty.
FLOAT_ALLOWLIST: dict[str, str] = {}

pytestmark = pytest.mark.money


@pytest.mark.parametrize(("raw", "expected"), [
    ("10", "10.00"), ("10.5", "10.50"), ("10.50", "10.50"), (" 7.25 ", "7.25"), ("0.01", "0.01"),
    (10, "10.00"), (Decimal("10.5"), "10.50"), ("999999999999.99", "999999999999.99"),
])
def test_accepted_amounts(raw, expected):
    value = MoneyField().to_internal_value(raw)
    assert isinstance(value, int) and not isinstance(value, bool)
    assert format_minor(value) == expected
    assert value == int(Decimal(expected) * 100)


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
    (100_000, "1000.00"), (0, "0.00"), (33_330, "333.30"), (1, "0.01"), (1234, "12.34"), (-150, "-1.50"),
])
def test_output_has_exactly_two_places(value, text):
    assert MoneyField().to_representation(value) == text == format_minor(value)


@pytest.mark.parametrize("currency", ["JPY", "USD", "KWD"])  # 0, 2 and 3 places
@given(units=st.integers(min_value=-10 ** 20, max_value=10 ** 20))
@example(units=0)  # its own short path: "0", "0.00", "0.000"
@settings(max_examples=300, deadline=None)
def test_the_wire_text_is_the_decimal_with_exactly_the_places(currency, units):
    with override_settings(BNPL_CURRENCY=currency):
        places = exponent()
        assert format_minor(units) == f"{Decimal(units).scaleb(-places):.{places}f}"
        assert Decimal(format_minor(units)) == from_minor(units)


def test_minor_units_convert_exactly_both_ways():
    assert exponent() == 2
    assert to_minor(Decimal("333.33")) == 33_333 and to_minor(Decimal("1E+3")) == 100_000
    assert to_minor(Decimal("1.000")) == 100 and to_minor(7) == 700
    assert from_minor(33_333) == Decimal("333.33") and str(from_minor(0)) == "0.00"
    with pytest.raises(ValueError):
        to_minor(Decimal("0.019"))  # never rounded away
    with pytest.raises(ValueError):
        to_minor(Decimal("NaN"))
    assert MAX_AMOUNT == 10 ** 12


def test_json_numbers_parse_as_decimal_through_the_parser():
    data = DecimalJSONParser().parse(io.BytesIO(b'{"a": 10.5, "b": 10, "c": 1e2, "d": 0.1}'))
    assert data == {"a": Decimal("10.5"), "b": 10, "c": Decimal("1e2"), "d": Decimal("0.1")}
    assert all(not isinstance(v, float) for v in data.values())
    assert MoneyField().to_internal_value(data["a"]) == 1050
    assert MoneyField().to_internal_value(data["b"]) == 1000


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
    assert isinstance(data.validated_data["amount"], int)
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
    assert MoneyField().to_internal_value(text) == cents
    assert MoneyField().to_internal_value(value) == cents  # a JSON number, parsed as Decimal
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


# --- The currency's places (ISO 4217 minor unit) -------------------------------------------------

@pytest.mark.parametrize(("code", "places", "raw", "minor", "wire"), [
    ("UZS", 2, "1000.5", 100_050, "1000.50"), ("USD", 2, "0.01", 1, "0.01"),
    ("JPY", 0, "1000", 1000, "1000"), ("KRW", 0, 5, 5, "5"),
    ("KWD", 3, "1.25", 1250, "1.250"), ("BHD", 3, "0.001", 1, "0.001"), ("OMR", 3, "999999999999.999",
                                                                        999_999_999_999_999, "999999999999.999"),
])
def test_places_follow_the_currency(code, places, raw, minor, wire):
    with override_settings(BNPL_CURRENCY=code):
        assert exponent() == places
        assert MoneyField().to_internal_value(raw) == minor
        assert MoneyField().to_representation(minor) == wire == format_minor(minor)
        assert from_minor(minor) == Decimal(wire)


@pytest.mark.parametrize(("code", "raw"), [("JPY", "10.5"), ("JPY", "1000.0"), ("KWD", "1.2505"), ("UZS", "0.001")])
def test_more_places_than_the_currency_has_are_refused(code, raw):
    with override_settings(BNPL_CURRENCY=code), pytest.raises(ValidationError) as info:
        MoneyField().to_internal_value(raw)
    assert info.value.get_codes() == ["max_places"]


def test_an_unknown_currency_refuses_to_start():
    with override_settings(BNPL_CURRENCY="XYZ"):
        with pytest.raises(ImproperlyConfigured):
            exponent()
        from django.apps import apps
        with pytest.raises(ImproperlyConfigured):
            apps.get_app_config("bnpl").ready()


def test_a_process_with_an_unknown_currency_does_not_start():
    import os
    import subprocess
    import sys
    env = {**os.environ, "BNPL_CURRENCY": "ZZZ", "DJANGO_SETTINGS_MODULE": "bnpl.settings.test"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "BNPL_CURRENCY='ZZZ'" in result.stderr
