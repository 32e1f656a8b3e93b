"""The shortcuts ``bnpl.serializers.compiled`` takes per field give exactly what DRF's field gives.

test_compiled_reads holds whole responses equal; here each shortcut meets the inputs a response
rarely has (a naive time, a string, another time zone, a missing attribute, a mapping).
"""
import datetime as dt
import pathlib
import re
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from hypothesis import given
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.fields import SkipField

from bnpl import dates
from bnpl.api_fields import MoneyField
from bnpl.serializers import _attribute_getter, _renderer, compiled

TASHKENT = ZoneInfo("Asia/Tashkent")


def bound(field: serializers.Field, name: str = "value") -> serializers.Field:
    class Holder(serializers.Serializer):
        pass

    field.bind(name, Holder())
    return field


def same(field: serializers.Field, value) -> None:
    shortcut = _renderer(field)
    assert shortcut != field.to_representation, "the shortcut is taken"
    expected = field.to_representation(value)
    assert shortcut(value) == expected and type(shortcut(value)) is type(expected)


@given(st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(9999, 12, 30),
                    timezones=st.sampled_from([dt.UTC, TASHKENT, ZoneInfo("America/St_Johns"), None])))
def test_datetimes_as_drf_shows_them_in_utc(moment):
    same(bound(serializers.DateTimeField(read_only=True)), moment)


@pytest.mark.parametrize("value", [None, "", "2026-11-30T10:00:00Z", dt.datetime(2026, 11, 30, 10, 0, 0, 5)])
def test_datetime_odd_values_are_drfs(value):
    same(bound(serializers.DateTimeField(read_only=True)), value)


def test_a_datetime_field_with_its_own_format_or_zone_keeps_drfs_rendering():
    for field in (serializers.DateTimeField(format="%Y"), serializers.DateTimeField(default_timezone=TASHKENT)):
        assert _renderer(bound(field)) == field.to_representation


@given(st.dates())
def test_dates_as_drf_shows_them(day):
    same(bound(serializers.DateField(read_only=True)), day)


@pytest.mark.parametrize("value", [None, "", "2026-11-30"])
def test_date_odd_values_are_drfs(value):
    same(bound(serializers.DateField(read_only=True)), value)


def test_a_datetime_given_to_a_date_field_is_refused_as_drf_refuses_it():
    with pytest.raises(AssertionError, match="Expected a `date`"):
        _renderer(bound(serializers.DateField(read_only=True)))(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


@given(st.integers(min_value=-(10 ** 15), max_value=10 ** 15))
def test_amounts_as_moneyfield_shows_them(minor):
    same(bound(MoneyField(read_only=True)), minor)


@given(st.one_of(st.text(), st.integers(), st.uuids(), st.decimals(allow_nan=False)))
def test_text_as_charfield_shows_it(value):
    same(bound(serializers.CharField(read_only=True)), value)


@given(st.one_of(st.integers(), st.booleans(), st.decimals(allow_nan=False, allow_infinity=False)))
def test_whole_numbers_as_integerfield_shows_them(value):
    same(bound(serializers.IntegerField(read_only=True)), value)


@given(st.uuids())
def test_uuids_as_uuidfield_shows_them(value):
    same(bound(serializers.UUIDField(read_only=True)), value)
    hex_field = bound(serializers.UUIDField(read_only=True, format="hex"))
    assert _renderer(hex_field) == hex_field.to_representation  # another format: DRF's


def test_nothing_activates_another_time_zone():
    """The datetime shortcut shows UTC without asking for the current time zone: it may only,
    because no code of ours (nor a middleware) ever activates one."""
    assert settings.USE_TZ and settings.TIME_ZONE == "UTC"
    assert not any("Timezone" in name for name in settings.MIDDLEWARE)
    root = pathlib.Path(settings.BASE_DIR)
    sources = [p for p in root.glob("*/**/*.py") if ".venv" not in p.parts and "tests" not in p.parts]
    assert len(sources) > 50
    offenders = [p for p in sources if re.search(r"\b(timezone\.activate|override\()", p.read_text())]
    assert offenders == []


class Thing:
    column = "c"

    def __init__(self):
        self.column = "stored"

    @property
    def shown(self):
        return "property"

    @property
    def missing(self):
        raise ObjectDoesNotExist

    @property
    def broken(self):
        raise AttributeError("no such thing")

    def method(self):
        return "called"

    def with_default(self, now=None):
        return ("defaulted", now)

    def needs_argument(self, now):
        return now

    def failing(self):
        raise KeyError("inside")


class OtherThing(Thing):
    def method(self):
        return "overridden"


@pytest.mark.parametrize("source", ["column", "shown", "missing", "method", "*", "nested.inner"])
def test_attributes_read_as_drf_reads_them(source):
    field = bound(serializers.ReadOnlyField(source=source), name="x")
    instance = Thing()
    instance.nested = SimpleNamespace(inner="deep")
    assert _attribute_getter(field, {"column"})(instance) == field.get_attribute(instance)


@pytest.mark.parametrize("nested", [SimpleNamespace(inner="deep"), {"inner": "from a mapping"}, None])
def test_a_dotted_source_reads_each_step_as_drf_does(nested):
    field = bound(serializers.ReadOnlyField(source="nested.inner"), name="x")
    instance = Thing()
    instance.nested = nested
    if nested is None:  # DRF: an AttributeError on a field that is not required skips it
        with pytest.raises(SkipField):
            field.get_attribute(instance)
        with pytest.raises(SkipField):
            _attribute_getter(field, set())(instance)
    else:
        assert _attribute_getter(field, set())(instance) == field.get_attribute(instance)


def test_a_mapping_and_a_failing_attribute_go_through_drf():
    mapping = bound(serializers.ReadOnlyField(source="shown"), name="x")
    assert _attribute_getter(mapping, set())({"shown": "from the mapping"}) == "from the mapping"
    broken = bound(serializers.ReadOnlyField(source="broken"), name="x")  # not required: skipped, as in DRF
    with pytest.raises(SkipField):
        _attribute_getter(broken, set())(Thing())
    required = bound(serializers.CharField(source="broken"), name="x")
    with pytest.raises(AttributeError, match="Got AttributeError when attempting to get a value for field `x`"):
        _attribute_getter(required, set())(Thing())


def test_a_method_field_renders_with_its_serializers_method():
    class WithMethod(serializers.Serializer):
        figure = serializers.SerializerMethodField()

        def get_figure(self, obj):
            return obj * 2

    assert compiled(WithMethod())(21) == {"figure": 42} == WithMethod(21).data


def test_one_business_day_holds_across_midnight():
    tz = ZoneInfo(settings.BNPL_TIME_ZONE)
    with time_machine.travel(dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=tz), tick=False) as clock:
        with dates.one_business_day() as day:
            clock.shift(dt.timedelta(seconds=2))
            assert dates.business_today() == day == dt.date(2026, 11, 30)
        assert dates.business_today() == dt.date(2026, 12, 1)  # the clock again, once out


@pytest.mark.parametrize("source", ["method", "with_default", "needs_argument"])
def test_model_methods_are_called_as_drf_calls_them(source):
    field = bound(serializers.ReadOnlyField(source=source), name="x")
    getter = _attribute_getter(field, {"column"}, Thing)
    for instance in (Thing(), OtherThing()):
        assert getter(instance) == field.get_attribute(instance)
    if source == "method":
        assert getter(OtherThing()) == "overridden"  # the instance's own method, as DRF reads it


def test_a_method_that_raises_is_drfs_error():
    field = bound(serializers.ReadOnlyField(source="failing"), name="x")
    with pytest.raises(ValueError, match='Exception raised in callable attribute "failing"'):
        _attribute_getter(field, set(), Thing)(Thing())


@pytest.mark.parametrize("merchant_id", [None, "8d7f1c53-8e0f-4a86-9a3b-4a5f2b0e6f11"])
def test_a_related_field_with_no_object_is_none_as_in_drf(merchant_id):
    from plans.models import Plan

    class WithRelation(serializers.Serializer):
        merchant = serializers.PrimaryKeyRelatedField(read_only=True)
        installment_count = serializers.IntegerField()

    plan = Plan(merchant_id=merchant_id, installment_count=3)
    assert compiled(WithRelation())(plan) == dict(WithRelation(plan).data)
    assert (compiled(WithRelation())(plan)["merchant"] is None) == (merchant_id is None)
