"""bnpl.renderers.JSONRenderer writes the bytes DRF's JSONRenderer writes."""
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db.models import TextChoices
from django.utils.translation import gettext_lazy
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer as DrfJSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from bnpl.renderers import JSONRenderer


class Status(TextChoices):
    ACTIVE = "ACTIVE"


def both(data, media_type="application/json", context=None):
    return (JSONRenderer().render(data, media_type, context or {}),
            DrfJSONRenderer().render(data, media_type, context or {}))


# What the API renders: strings of any text (controls, quotes, non-BMP, U+2028), 64-bit integers,
# booleans, null, and the types DRF's encoder writes (UUID, times, dates, Decimal, lazy text).
_LEAVES = (st.text() | st.integers(min_value=-2**63, max_value=2**64 - 1) | st.booleans() | st.none()
           | st.uuids() | st.dates() | st.times() | st.timedeltas()
           | st.datetimes(timezones=st.sampled_from([None, UTC]))
           | st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**9, max_value=10**9)
           | st.text().map(ErrorDetail) | st.just(Status.ACTIVE) | st.just(gettext_lazy("Not found.")))
_DOCUMENTS = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=5)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(_DOCUMENTS)
def test_every_document_is_written_as_drf_writes_it(document):
    ours, drf = both(document)
    assert ours == drf


def test_a_page_as_the_api_shapes_it():
    page = ReturnDict({"next": "http://testserver/api/v1/users/?cursor=cD0y", "previous": None, "results": ReturnList([
        {"id": uuid.uuid4(), "full_name": "Ali \u2028 \u00e9\U0001f600 \"q\" \\ \x01\x1f\x7f",
         "created_at": datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC), "status": Status.ACTIVE,
         "limit": "10000000.00", "due": date(2027, 1, 31), "errors": [ErrorDetail("Required.", code="required")]},
    ], serializer=None)}, serializer=None)
    ours, drf = both(page)
    assert ours == drf and b"\\u2028" in ours


@pytest.mark.parametrize("document", [
    {1: "a non-string key"}, {"big": 2**64}, {"small": -2**63 - 1}, {(1, 2): "tuple key"},
])
def test_what_orjson_refuses_is_drfs_own_output(document):
    try:
        drf = DrfJSONRenderer().render(document, "application/json", {})
    except TypeError:  # json refuses a tuple key too: so must we
        with pytest.raises(TypeError):
            JSONRenderer().render(document, "application/json", {})
        return
    assert JSONRenderer().render(document, "application/json", {}) == drf


def test_indented_output_and_nothing_are_drfs():
    document = {"a": [1, {"b": None}]}
    assert both(document, "application/json; indent=4")[0] == both(document, "application/json; indent=4")[1]
    assert b"\n" in JSONRenderer().render(document, "application/json; indent=4", {})
    assert both(document, context={"indent": 2})[0] == both(document, context={"indent": 2})[1]
    assert JSONRenderer().render(None) == b""


def test_the_two_spellings_that_differ_are_the_same_numbers():
    """No field of the API is a float; were one to be, only an exponent's spelling would differ."""
    document = {"large": 1e16, "tiny": 1e-5, "plain": 1.25, "delta": timedelta(seconds=1.5), "at": time(9, 30)}
    ours, drf = both(document)
    assert json.loads(ours) == json.loads(drf)
    assert b'"plain":1.25' in ours


def test_the_api_renders_with_it(client_api):
    from django.conf import settings as django_settings

    assert django_settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] == ["bnpl.renderers.JSONRenderer"]
    r = client_api.get("/api/v1/users/")
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    assert r.content == DrfJSONRenderer().render(r.json(), "application/json", {})
