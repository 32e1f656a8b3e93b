"""Standard Webhooks signature checks on POST /webhook/refund-status/ (API.md §8)."""
import base64
import json
import time

import pytest

from merchants.models import Merchant
from merchants.services import merchant_rotate_secret
from merchants.tests.factories import MerchantFactory
from plans.tests.factories import make_plan
from refunds.tests.factories import make_refund
from webhooks.models import WebhookEvent
from webhooks.signature import sign
from webhooks.tests.factories import URL, post_webhook, signed_headers, webhook_body

pytestmark = pytest.mark.django_db

TOLERANCE = 300


@pytest.fixture
def refund(merchant):
    return make_refund(plan=make_plan(merchant=merchant))


@pytest.fixture
def body(merchant, refund):
    return webhook_body(merchant=merchant, refund=refund)


def _assert_invalid_signature(response) -> dict:
    assert response.status_code == 401, response.content
    problem = response.json()
    assert problem["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()
    return problem


def test_valid_signature_is_accepted(anon_api, merchant, body):
    r = post_webhook(anon_api, merchant=merchant, body=body, msg_id="msg_1")
    assert r.status_code == 202, r.content
    assert r.json() == {"id": "msg_1", "status": "accepted"}
    assert WebhookEvent.objects.filter(merchant=merchant, webhook_id="msg_1").count() == 1


def test_tampered_body_is_401(anon_api, merchant, body):
    headers = signed_headers(secret=merchant.webhook_secret, body=body)
    tampered = body.replace(b'"APPROVED"', b'"REJECTED"')
    assert tampered != body
    _assert_invalid_signature(anon_api.post(URL, tampered, content_type="application/json", **headers))


def test_signed_with_another_merchants_secret_is_401(anon_api, merchant, body):
    _assert_invalid_signature(post_webhook(anon_api, merchant=merchant, body=body,
                                           secret=MerchantFactory().webhook_secret))


def test_old_secret_stops_working_at_once_after_rotation(anon_api, merchant, body, refund):
    old_secret = merchant.webhook_secret
    merchant_rotate_secret(merchant=merchant)
    _assert_invalid_signature(post_webhook(anon_api, merchant=merchant, body=body, secret=old_secret))
    new_secret = Merchant.objects.get(pk=merchant.pk).webhook_secret
    assert new_secret != old_secret
    assert post_webhook(anon_api, merchant=merchant, body=body, secret=new_secret).status_code == 202


@pytest.mark.parametrize("offset, accepted", [
    (-(TOLERANCE + 1), False), (-(TOLERANCE - 5), True), (TOLERANCE - 5, True), (TOLERANCE + 1, False),
    (-86400, False), (86400, False),
], ids=["too old", "old but within", "ahead but within", "too far ahead", "a day old", "a day ahead"])
def test_timestamp_tolerance_both_ways(anon_api, merchant, body, offset, accepted):
    r = post_webhook(anon_api, merchant=merchant, body=body, timestamp=int(time.time()) + offset)
    if accepted:
        assert r.status_code == 202, r.content
    else:
        _assert_invalid_signature(r)


@pytest.mark.parametrize("header", ["HTTP_WEBHOOK_ID", "HTTP_WEBHOOK_TIMESTAMP", "HTTP_WEBHOOK_SIGNATURE"])
def test_missing_header_is_401(anon_api, merchant, body, header):
    headers = signed_headers(secret=merchant.webhook_secret, body=body)
    del headers[header]
    _assert_invalid_signature(anon_api.post(URL, body, content_type="application/json", **headers))


@pytest.mark.parametrize("header", ["HTTP_WEBHOOK_ID", "HTTP_WEBHOOK_TIMESTAMP", "HTTP_WEBHOOK_SIGNATURE"])
def test_empty_header_is_401(anon_api, merchant, body, header):
    headers = signed_headers(secret=merchant.webhook_secret, body=body)
    headers[header] = ""
    _assert_invalid_signature(anon_api.post(URL, body, content_type="application/json", **headers))


def test_one_valid_signature_among_several_is_enough(anon_api, merchant, body):
    now = int(time.time())
    valid = sign(secret=merchant.webhook_secret, msg_id="msg_multi", timestamp=now, body=body)
    stale = sign(secret=MerchantFactory().webhook_secret, msg_id="msg_multi", timestamp=now, body=body)
    header = f"{stale} v2,{valid.split(',', 1)[1]} garbage {valid}"
    r = post_webhook(anon_api, merchant=merchant, body=body, msg_id="msg_multi", timestamp=now, signature=header)
    assert r.status_code == 202, r.content


@pytest.mark.parametrize("make_header", [
    lambda valid: "garbage",
    lambda valid: "v1,",
    lambda valid: "v1",
    lambda valid: "v1,!!!not-base64!!!",
    lambda valid: "v2," + valid.split(",", 1)[1],  # right digest, unknown version
    lambda valid: valid.split(",", 1)[1],  # digest without the version
    lambda valid: valid[:-4] + "AAA=",
    lambda valid: "v1," + base64.b64encode(b"\x00" * 32).decode(),
], ids=["garbage", "empty digest", "no comma", "not base64", "other version", "no version", "altered digest",
        "zero digest"])
def test_malformed_or_wrong_signature_header_is_401(anon_api, merchant, body, make_header):
    now = int(time.time())
    valid = sign(secret=merchant.webhook_secret, msg_id="msg_x", timestamp=now, body=body)
    _assert_invalid_signature(post_webhook(anon_api, merchant=merchant, body=body, msg_id="msg_x", timestamp=now,
                                           signature=make_header(valid)))


@pytest.mark.parametrize("timestamp", ["abc", "-5", "1.5", "١٢٣"])
def test_non_integer_timestamp_is_401(anon_api, merchant, body, timestamp):
    headers = signed_headers(secret=merchant.webhook_secret, body=body)
    headers["HTTP_WEBHOOK_TIMESTAMP"] = timestamp
    _assert_invalid_signature(anon_api.post(URL, body, content_type="application/json", **headers))


def test_signature_over_another_webhook_id_is_401(anon_api, merchant, body):
    now = int(time.time())
    other = sign(secret=merchant.webhook_secret, msg_id="msg_a", timestamp=now, body=body)
    _assert_invalid_signature(post_webhook(anon_api, merchant=merchant, body=body, msg_id="msg_b", timestamp=now,
                                           signature=other))


@pytest.mark.parametrize("raw", [
    b"not json", b"[]", b'{"data": []}', b'{"data": {"status": "APPROVED"}}', b'{"data": {"merchant_id": "x"}}',
    b'{"data": {"merchant_id": "00000000-0000-0000-0000-000000000000"}}', b"\xff\xfe",
], ids=["not json", "array", "data not object", "no merchant_id", "merchant_id not uuid", "unknown merchant",
        "not utf-8"])
def test_body_naming_no_verifiable_merchant_is_401(anon_api, merchant, raw):
    # Signed with a real secret: without a known merchant there is nothing to verify against.
    _assert_invalid_signature(post_webhook(anon_api, merchant=merchant, body=raw))


def test_every_signature_failure_gives_the_same_answer(anon_api, merchant, body):
    unknown = webhook_body(merchant=MerchantFactory.build(), status="APPROVED", refund_id="x")
    answers = [
        post_webhook(anon_api, merchant=merchant, body=body, secret=MerchantFactory().webhook_secret),
        post_webhook(anon_api, merchant=merchant, body=unknown),
        post_webhook(anon_api, merchant=merchant, body=body, timestamp=int(time.time()) - 10_000),
        post_webhook(anon_api, merchant=merchant, body=body, signature="v1,AAAA"),
    ]
    problems = [_assert_invalid_signature(r) for r in answers]
    assert all(p == problems[0] for p in problems)


# --- v1.1: bounded timestamps and bodies, JSON only (API.md §8) -------------------------------------

@pytest.mark.parametrize("timestamp", ["9" * 13, "9" * 309, "9" * 5000, "1" * 12, " 1700000000", "1700000000 ",
                                       "+1700000000", "1_700_000_000", "０１２３", "𝟏𝟕𝟎𝟎𝟎𝟎𝟎𝟎𝟎𝟎"],
                         ids=["13 digits", "309 digits", "5000 digits", "12 digits far ahead", "leading space",
                              "trailing space", "plus sign", "underscores", "fullwidth", "math digits"])
def test_timestamp_not_a_plain_integer_of_at_most_12_digits_is_401(anon_api, merchant, body, timestamp):
    # Signed over the very timestamp sent, so only its form can fail it.
    headers = signed_headers(secret=merchant.webhook_secret, body=body)
    headers["HTTP_WEBHOOK_SIGNATURE"] = sign(secret=merchant.webhook_secret, msg_id=headers["HTTP_WEBHOOK_ID"],
                                             timestamp=timestamp, body=body)
    headers["HTTP_WEBHOOK_TIMESTAMP"] = timestamp
    _assert_invalid_signature(anon_api.post(URL, body, content_type="application/json", **headers))


@pytest.mark.parametrize("raw", [b"[" * 60_000, b"[" * 33 + b"]" * 33, b'{"a":' * 40 + b"1" + b"}" * 40,
                                 b"1" * 5000, b'{"data": {"merchant_id": 1e999999999}}'],
                         ids=["60000 brackets", "33 levels", "40 objects", "5000-digit number", "huge exponent"])
def test_body_too_deep_or_unparseable_is_401_even_when_signed(anon_api, merchant, raw):
    _assert_invalid_signature(post_webhook(anon_api, merchant=merchant, body=raw))


def test_32_levels_of_nesting_still_verify(anon_api, merchant, refund):
    payload = json.loads(webhook_body(merchant=merchant, refund=refund))
    nested = [1]
    for _ in range(29):  # 30 levels under the top object and "data" => 32 in all
        nested = [nested]
    payload["data"]["extra"] = nested
    r = post_webhook(anon_api, merchant=merchant, body=json.dumps(payload).encode())
    assert r.status_code == 202, r.content


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                                          "multipart/form-data; boundary=x", ""])
def test_content_type_other_than_json_is_415(anon_api, merchant, body, content_type):
    headers = signed_headers(secret=merchant.webhook_secret, body=body)
    r = anon_api.generic("POST", URL, body, content_type=content_type, **headers)
    assert r.status_code == 415, r.content
    assert r.json()["code"] == "unsupported_media_type"
    assert not WebhookEvent.objects.exists()


def test_json_with_a_charset_parameter_is_accepted(anon_api, merchant, body):
    headers = signed_headers(secret=merchant.webhook_secret, body=body)
    r = anon_api.post(URL, body, content_type="application/json; charset=utf-8", **headers)
    assert r.status_code == 202, r.content
