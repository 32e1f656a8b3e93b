"""Bad input is a 4xx problem, never a 5xx (API.md §0 v1.1, §8 v1.1; issue: no 5xx from any input).

First the named cases, each with the answer the contract gives; then a Hypothesis fuzz of the
webhook and of every list and create endpoint with hostile values (deep nesting, huge integers,
Unicode digits, malformed dates and cursors, random methods). ``ApiClient`` checks that every
4xx body is problem+json; the fuzz asserts no 5xx and that nothing half-happened.
"""
import base64
import json
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnpl.models import Role
from merchants.tests.factories import MerchantFactory
from plans.models import Plan
from plans.tests.factories import make_plan
from refunds.tests.factories import make_refund
from users.models import Customer
from users.tests.factories import CustomerFactory, user_payload
from webhooks.models import WebhookEvent
from webhooks.signature import sign
from webhooks.tests.factories import URL as WEBHOOK_URL
from webhooks.tests.factories import webhook_body

pytestmark = pytest.mark.django_db

# One of each kind of Unicode decimal digit Python's int() reads: Arabic-Indic, Extended
# Arabic-Indic, Devanagari, Bengali, Thai, fullwidth, mathematical bold.
FOREIGN_DIGITS = "٠١٢٣٤٥٦٧٨٩" "۰۱۲۳۴۵۶۷۸۹" "०१२३४५६७८९" "০১২৩৪৫৬৭৮৯" "๐๑๒๓๔๕๖๗๘๙" "０１２３４５６７８９" "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗"


def foreign(text: str, family: int = 0) -> str:
    """``text`` with its ASCII digits spelled in another script's digits."""
    digits = FOREIGN_DIGITS[family * 10:family * 10 + 10]
    return "".join(digits[int(c)] if c.isascii() and c.isdigit() else c for c in text)


def assert_4xx(response):
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/problem+json")
    return response.json()


def errors_on(response) -> set[str]:
    body = assert_4xx(response)
    assert response.status_code == 400 and body["code"] == "validation_error", body
    return {e["attr"] for e in body["errors"]}


@pytest.fixture
def world(merchant):
    user = CustomerFactory()
    plan = make_plan(user=user, merchant=merchant)
    return {"user": user, "merchant": merchant, "plan": plan, "refund": make_refund(plan=plan, amount="10.00")}


def plan_body(world, **changes) -> dict:
    body = {"user_id": str(world["user"].pk), "merchant_id": str(world["merchant"].pk), "total_amount": "300.00",
            "installment_count": 3}
    return {**body, **changes}


# --- JSON depth (400 parse_error on the API) ------------------------------------------------------

@pytest.mark.parametrize("raw", ["[" * 100_000, "[" * 33 + "]" * 33, '{"a":' * 33 + "1" + "}" * 33,
                                 '{"full_name": ' + "[" * 40 + "]" * 40 + "}"],
                         ids=["100000 brackets", "33 arrays", "33 objects", "deep value"])
def test_json_nested_deeper_than_32_is_400_parse_error(client_api, operator_api, raw):
    for api, url in ((client_api, "/api/v1/users/"), (client_api, "/api/v1/plans/"),
                     (operator_api, "/api/v1/merchants/")):
        r = api.post(url, raw, content_type="application/json")
        assert r.status_code == 400 and r.json()["code"] == "parse_error", r.content


def test_32_levels_parse(operator_api):
    nested = "[" * 31 + "]" * 31  # inside the top-level object: 32 levels
    r = operator_api.post("/api/v1/merchants/", '{"name": "Shop", "x": ' + nested + "}",
                          content_type="application/json")
    assert r.status_code == 201, r.content


@pytest.mark.parametrize("raw", ['{"installment_count": ' + "9" * 5000 + "}", '{"total_amount": 1e999999999}',
                                 '{"total_amount": NaN}', '{"total_amount": Infinity}', r'"\ud800"'],
                         ids=["5000-digit int", "huge exponent", "NaN", "Infinity", "lone surrogate"])
def test_numbers_json_cannot_hold_are_4xx(client_api, world, raw):
    assert_4xx(client_api.post("/api/v1/plans/", raw, content_type="application/json"))
    assert Plan.objects.count() == 1


def test_lone_surrogate_in_a_string_is_400(client_api):
    # Valid JSON escapes, but no database (and no UTF-8) can store the result.
    body = json.dumps(user_payload(3)).replace('"John Doe 3"', r'"John \ud800 Doe"')
    assert errors_on(client_api.post("/api/v1/users/", body, content_type="application/json")) == {"full_name"}


# --- ASCII digits only, in numbers and ids ----------------------------------------------------------

@pytest.mark.parametrize("family", range(7))
def test_foreign_digits_in_plan_fields_are_400(client_api, world, family):
    cases = {
        "user_id": foreign(str(world["user"].pk), family),
        "merchant_id": foreign(str(world["merchant"].pk), family),
        "installment_count": foreign("3", family),
        "total_amount": foreign("300.00", family),
        "start_date": foreign("2026-01-01", family),
    }
    for attr, value in cases.items():
        assert errors_on(client_api.post("/api/v1/plans/", plan_body(world, **{attr: value}))) == {attr}, attr
    assert Plan.objects.count() == 1


@pytest.mark.parametrize("value", [True, 3.5, "3.5", "3 ", " 3", "+3", "0x3", "3e0", "", None, [3], {"n": 3}],
                         ids=repr)
def test_installment_count_must_be_an_integer(client_api, world, value):
    assert errors_on(client_api.post("/api/v1/plans/", plan_body(world, installment_count=value))) == \
        {"installment_count"}


@pytest.mark.parametrize("literal", ["3", '"3"', "3.0"])
def test_installment_count_integer_forms_accepted(client_api, world, literal):
    body = json.dumps(plan_body(world, installment_count="N")).replace('"N"', literal)
    r = client_api.post("/api/v1/plans/", body, content_type="application/json")
    assert r.status_code == 201, r.content
    assert r.json()["installment_count"] == 3


def test_foreign_digits_in_ids_of_refunds_and_repayments_are_400(client_api, world):
    r = client_api.post("/api/v1/refunds/", {"plan_id": foreign(str(world["plan"].pk)), "transaction_id": "T-1",
                                             "amount": "1.00"})
    assert errors_on(r) == {"plan_id"}
    installment = world["plan"].installments.first()
    r = client_api.post(f"/api/v1/debt/{world['user'].pk}/", {"installment_ids": [foreign(str(installment.pk))]})
    assert errors_on(r) == {"installment_ids.0"}


@pytest.mark.parametrize("value", ["{%s}", "urn:uuid:%s", "%s "], ids=["braces", "urn", "trailing space"])
def test_only_plain_uuid_spellings(client_api, world, value):
    r = client_api.post("/api/v1/refunds/", {"plan_id": value % world["plan"].pk, "transaction_id": "T-1",
                                             "amount": "1.00"})
    assert errors_on(r) == {"plan_id"}


def test_foreign_digits_in_query_filters_are_400(client_api, world):
    for url, attr, value in [("/api/v1/plans/", "user_id", str(world["user"].pk)),
                             ("/api/v1/plans/", "merchant_id", str(world["merchant"].pk)),
                             ("/api/v1/refunds/", "plan_id", str(world["plan"].pk)),
                             ("/api/v1/refunds/", "user_id", str(world["user"].pk))]:
        assert client_api.get(url, {attr: value}).json()["results"], (url, attr)
        assert errors_on(client_api.get(url, {attr: foreign(value)})) == {attr}, (url, attr)


def test_foreign_digits_in_path_ids_are_404(client_api, world):
    user_id, plan_id = str(world["user"].pk), str(world["plan"].pk)
    assert client_api.get(f"/api/v1/plans/{plan_id}/").status_code == 200
    for url in (f"/api/v1/plans/{foreign(plan_id)}/", f"/api/v1/users/{foreign(user_id)}/",
                f"/api/v1/debt/{foreign(user_id)}/", f"/api/v1/debt/{foreign(user_id)}/repayments/",
                f"/api/v1/refunds/{foreign(str(world['refund'].pk))}/"):
        r = client_api.get(url)
        assert r.status_code == 404 and r.json()["code"] == "not_found", url


# --- dates exactly YYYY-MM-DD ----------------------------------------------------------------------

@pytest.mark.parametrize("value", ["19900101", "1990-5-17", "1990-05-17T00:00:00", "1990-W20-4", "1990-137",
                                   " 1990-05-17", "1990-02-30", "+1990-05-17", foreign("1990-05-17"),
                                   foreign("1990-05-17", 5), 19900517, None])
def test_birth_date_only_as_yyyy_mm_dd(client_api, value):
    r = client_api.post("/api/v1/users/", user_payload(1, date_of_birth=value))
    assert errors_on(r) == {"date_of_birth"}
    assert not Customer.objects.exists()


@pytest.mark.parametrize("value, created", [("1899-12-31", False), ("0001-01-01", False), ("1900-01-01", True)])
def test_birth_date_before_1900_is_400(client_api, value, created):
    r = client_api.post("/api/v1/users/", user_payload(2, date_of_birth=value))
    if created:
        assert r.status_code == 201, r.content
    else:
        assert errors_on(r) == {"date_of_birth"}


@pytest.mark.parametrize("value", ["20260101", "2026-1-1", "2026-01-01T00:00", foreign("2026-01-01", 3)])
def test_start_date_only_as_yyyy_mm_dd(client_api, world, value):
    assert errors_on(client_api.post("/api/v1/plans/", plan_body(world, start_date=value))) == {"start_date"}


# --- the fuzz ---------------------------------------------------------------------------------------

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

digits_text = st.text(alphabet=FOREIGN_DIGITS + "0123456789.-", min_size=1, max_size=30)
huge_int = st.one_of(st.integers(min_value=10 ** 11, max_value=10 ** 400),
                     st.integers(max_value=-1, min_value=-10 ** 30))
date_like = st.one_of(st.sampled_from(["19900101", "0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01",
                                       "2026-01-01T00:00:00Z", "1990-W20-4", ""]),
                      st.dates().map(lambda d: foreign(d.isoformat(), 0)))
uuid_like = st.one_of(st.uuids().map(lambda u: foreign(str(u), 1)), st.uuids().map(lambda u: f"{{{u}}}"),
                      st.uuids().map(str), st.text(max_size=40))


def nested(depth: int):
    return json.loads("[" * depth + "]" * depth) if depth < 900 else None


hostile_value = st.one_of(
    digits_text, huge_int, date_like, uuid_like, st.none(), st.booleans(),
    st.integers(min_value=20, max_value=800).map(nested),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
)


def body_of(valid: dict):
    """``valid`` with each field kept, replaced by a hostile value, or dropped."""
    return st.fixed_dictionaries({key: st.one_of(st.just(value), hostile_value) for key, value in valid.items()})


def raw_body():
    """Bodies that are not the JSON a field could reject: nesting, giant numbers, junk."""
    return st.one_of(
        st.integers(min_value=33, max_value=200_000).map(lambda n: "[" * n),
        st.integers(min_value=33, max_value=3000).map(lambda n: '{"a":' * n + "1" + "}" * n),
        st.integers(min_value=4000, max_value=6000).map(lambda n: '{"installment_count": ' + "9" * n + "}"),
        st.sampled_from(['{"total_amount": 1e999999999}', "NaN", '{"a": Infinity}', "\x00", "", "{", '"\\ud800"']),
        st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
    )


def cursor_like():
    fields = st.fixed_dictionaries({}, optional={"o": hostile_value.map(str), "r": hostile_value.map(str),
                                                 "p": hostile_value.map(str)})
    encoded = fields.map(lambda d: base64.b64encode("&".join(f"{k}={v}" for k, v in d.items()).encode()).decode())
    return st.one_of(encoded, st.text(max_size=60), digits_text)


LISTS = [(Role.CLIENT, "/api/v1/users/", ["status", "phone_number"]),
         (Role.CLIENT, "/api/v1/merchants/", []),
         (Role.CLIENT, "/api/v1/plans/", ["user_id", "merchant_id", "status"]),
         (Role.CLIENT, "/api/v1/refunds/", ["status", "plan_id", "user_id"]),
         (Role.OPERATOR, "/api/v1/webhook-events/", ["status", "merchant_id", "refund_id"]),
         (Role.CLIENT, "/api/v1/debt/{user}/repayments/", []),
         # The ledger's, the audit trail's and the events' lists, which came after this fuzz was written.
         (Role.CLIENT, "/api/v1/users/{user}/transactions/", ["kind", "plan_id"]),
         (Role.MERCHANT, "/api/v1/plans/{plan}/transactions/", []),
         (Role.OPERATOR, "/api/v1/payouts/", ["status", "user_id", "refund_id"]),
         (Role.OPERATOR, "/api/v1/audit-events/", ["object_id", "object_type"]),
         (Role.CLIENT, "/api/v1/events/", ["type", "after"]),
         (Role.MERCHANT, "/api/v1/webhook-endpoints/", []),
         (Role.MERCHANT, "/api/v1/webhook-endpoints/{endpoint}/deliveries/", ["event_id", "status"])]


def _newer_objects(world) -> dict:
    """A repayment, a payout, a pending checkout, a merchant webhook endpoint and one of its events,
    for the endpoints that act on them."""
    from debt.services import repayment_apply
    from events.models import Audience, Event, WebhookEndpoint
    from ledger.tests.factories import make_payout
    from plans.services import plan_create

    user, plan, merchant = world["user"], world["plan"], world["merchant"]
    first = plan.installments.order_by("sequence").first()
    endpoint = WebhookEndpoint.objects.create(url="https://hooks.example/in", audience=Audience.MERCHANT,
                                              merchant=merchant, event_types=[], secret="whsec_hostile")
    checkout = plan_create(user=CustomerFactory.create(), merchant=merchant, total_amount=9000, installment_count=3,
                           awaiting_consent=True).plan
    event = Event.objects.filter(merchant=merchant).order_by("id").first()
    assert checkout is not None and event is not None
    return {"repayment": repayment_apply(user=user, installment_ids=[first.pk]).repayment,
            "payout": make_payout(merchant_id=merchant.pk, plan_id=plan.pk, user_id=user.pk),
            "checkout": checkout, "endpoint": endpoint, "event": event}


@pytest.mark.parametrize("role, url, filters", LISTS, ids=[url for _, url, _ in LISTS])
def test_fuzz_list_endpoints(make_api, world, role, url, filters):
    api = make_api(role, merchant=world["merchant"] if role == Role.MERCHANT else None)
    endpoint = _newer_objects(world)["endpoint"].pk if "{endpoint}" in url else None
    url = url.format(user=world["user"].pk, plan=world["plan"].pk, endpoint=endpoint)

    @FUZZ
    @given(query=st.fixed_dictionaries({}, optional={"limit": hostile_value.map(str), "cursor": cursor_like(),
                                                     **{name: hostile_value.map(str) for name in filters}}))
    def run(query):
        r = api.get(url, query)
        seen.add(r.status_code)
        assert r.status_code < 500, (query, r.content[:300])
        if r.status_code >= 400:
            assert_4xx(r)

    seen: set[int] = set()
    run()
    assert 200 in seen and 400 in seen, seen  # the fuzz reached the list itself, and its validation


def _creates(world, name):
    user, plan = world["user"], world["plan"]
    if name in NEWER_CREATES:
        new = _newer_objects(world)
        checkout, payout, endpoint = new["checkout"].pk, new["payout"].pk, new["endpoint"].pk
        return {
            "plans-confirm": (Role.CLIENT, "post", f"/api/v1/plans/{checkout}/confirm/", {}),
            "plans-decline": (Role.CLIENT, "post", f"/api/v1/plans/{checkout}/decline/", {}),
            "users-credit-limit": (Role.OPERATOR, "patch", f"/api/v1/users/{user.pk}/", {"credit_limit": "500.00"}),
            "payout-mark-sent": (Role.OPERATOR, "post", f"/api/v1/payouts/{payout}/mark-sent/",
                                 {"reference": "BANK-1"}),
            "payout-mark-failed": (Role.OPERATOR, "post", f"/api/v1/payouts/{payout}/mark-failed/",
                                   {"reason": "Bounced"}),
            "repayment-reverse": (Role.OPERATOR, "post", f"/api/v1/repayments/{new['repayment'].pk}/reverse/",
                                  {"reason": "Chargeback"}),
            "webhook-endpoints": (Role.MERCHANT, "post", "/api/v1/webhook-endpoints/",
                                  {"url": "https://1.1.1.1/in", "event_types": ["refund.approved"],
                                   "description": "Shop"}),
            "endpoint-rotate": (Role.MERCHANT, "post", f"/api/v1/webhook-endpoints/{endpoint}/rotate-secret/", {}),
            "event-redeliver": (Role.OPERATOR, "post", f"/api/v1/events/{new['event'].pk}/redeliver/", {}),
        }[name]
    return {
        "users": (Role.CLIENT, "post", "/api/v1/users/", user_payload(9)),
        "users-patch": (Role.CLIENT, "patch", f"/api/v1/users/{user.pk}/",
                        {"full_name": "New", "phone_number": "+998911234567"}),
        "merchants": (Role.OPERATOR, "post", "/api/v1/merchants/", {"name": "Shop"}),
        "plans": (Role.CLIENT, "post", "/api/v1/plans/", plan_body(world)),
        "plans-merchant": (Role.MERCHANT, "post", "/api/v1/plans/", plan_body(world)),
        "refunds": (Role.CLIENT, "post", "/api/v1/refunds/", {"plan_id": str(plan.pk), "transaction_id": "T-9",
                                                              "amount": "1.00", "reason": "r"}),
        "repay-amount": (Role.CLIENT, "post", f"/api/v1/debt/{user.pk}/", {"amount": "1.00"}),
        "repay-ids": (Role.CLIENT, "post", f"/api/v1/debt/{user.pk}/",
                      {"installment_ids": [str(i.pk) for i in plan.installments.all()]}),
        "refund-reject": (Role.OPERATOR, "post", f"/api/v1/refunds/{world['refund'].pk}/reject/", {"reason": "r"}),
    }[name]


NEWER_CREATES = ["plans-confirm", "plans-decline", "users-credit-limit", "payout-mark-sent", "payout-mark-failed",
                 "repayment-reverse", "webhook-endpoints", "endpoint-rotate", "event-redeliver"]
CREATES = ["users", "users-patch", "merchants", "plans", "plans-merchant", "refunds", "repay-amount", "repay-ids",
           "refund-reject", *NEWER_CREATES]


@pytest.mark.parametrize("name", CREATES)
def test_fuzz_create_endpoints(make_api, world, name):
    role, method, url, valid = _creates(world, name)
    api = make_api(role, merchant=world["merchant"] if role == Role.MERCHANT else None)

    @FUZZ
    @given(body=st.one_of(body_of(valid), body_of(valid).map(json.dumps), raw_body()),
           key=st.one_of(st.none(), st.text(min_size=1, max_size=300)))
    def run(body, key):
        extra = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
        raw = body if isinstance(body, str) else json.dumps(body)
        r = getattr(api, method)(url, raw, content_type="application/json", **extra)
        seen.add(r.status_code)
        assert r.status_code < 500, (raw[:200], r.content[:300])
        if r.status_code >= 400:
            assert_4xx(r)

    seen: set[int] = set()
    run()
    assert seen - {401, 403, 404, 405}, seen  # the key may call it: the fuzz reached the endpoint's own checks


@pytest.mark.parametrize("url", ["/api/v1/plans/", "/api/v1/users/", WEBHOOK_URL, "/api/v1/plans/{plan}/",
                                 "/api/v1/events/", "/api/v1/webhook-endpoints/"])
def test_fuzz_random_methods(client_api, world, url):
    url = url.format(plan=world["plan"].pk)

    @FUZZ
    @given(method=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=13))
    def run(method):
        r = client_api.generic(method, url)
        assert r.status_code < 500, (method, r.status_code)
        if r.status_code >= 400:
            assert_4xx(r)

    run()


def test_fuzz_webhook(anon_api, world):
    merchant, refund = world["merchant"], world["refund"]
    valid = json.loads(webhook_body(merchant=merchant, refund=refund))

    @FUZZ
    @given(body=st.one_of(st.fixed_dictionaries({"type": st.one_of(st.just(valid["type"]), hostile_value),
                                                 "data": body_of(valid["data"])}).map(json.dumps), raw_body()),
           timestamp=st.one_of(st.none(), st.integers(min_value=0, max_value=10 ** 400).map(str), digits_text,
                               st.text(max_size=20)),
           msg_id=st.one_of(st.uuids().map(str), st.text(min_size=1, max_size=300)),
           content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", ""]),
           signed=st.booleans())
    def run(body, timestamp, msg_id, content_type, signed):
        raw = body.encode("utf-8", "surrogatepass")
        now = str(int(time.time())) if timestamp is None else timestamp
        headers = {"HTTP_WEBHOOK_ID": msg_id.replace("\x00", ""), "HTTP_WEBHOOK_TIMESTAMP": now,
                   "HTTP_WEBHOOK_SIGNATURE": sign(secret=merchant.webhook_secret, msg_id=msg_id.replace("\x00", ""),
                                                  timestamp=now, body=raw) if signed else "v1,AAAA"}
        before = WebhookEvent.objects.count()
        r = anon_api.generic("POST", WEBHOOK_URL, raw, content_type=content_type, **headers)
        assert r.status_code < 500, (raw[:200], r.content[:300])
        if r.status_code >= 400:
            assert_4xx(r)
            assert WebhookEvent.objects.count() == before
        else:
            assert r.status_code in (200, 202)

    run()


def test_unknown_merchant_uuid_in_webhook_is_401(anon_api):
    body = json.dumps({"type": "refund.status_changed", "data": {"merchant_id": str(uuid.uuid4())}}).encode()
    r = anon_api.post(WEBHOOK_URL, body, content_type="application/json", HTTP_WEBHOOK_ID="m",
                      HTTP_WEBHOOK_TIMESTAMP=str(int(time.time())), HTTP_WEBHOOK_SIGNATURE="v1,AAAA")
    assert r.status_code == 401


def test_foreign_merchant_digits_in_webhook_cannot_be_verified(anon_api, world):
    merchant = MerchantFactory()
    body = webhook_body(merchant=merchant, refund=world["refund"]).replace(
        str(merchant.pk).encode(), foreign(str(merchant.pk)).encode())
    now = int(time.time())
    r = anon_api.post(WEBHOOK_URL, body, content_type="application/json", HTTP_WEBHOOK_ID="m",
                      HTTP_WEBHOOK_TIMESTAMP=str(now),
                      HTTP_WEBHOOK_SIGNATURE=sign(secret=merchant.webhook_secret, msg_id="m", timestamp=now,
                                                  body=body))
    assert r.status_code == 401


# --- sums against the column range -------------------------------------------------------------------

def test_paying_by_ids_installments_totalling_10_to_the_12_is_400(client_api, merchant):
    # Two plans just below the per-amount bound: each installment is fine, their sum is not.
    user = CustomerFactory()
    Customer.objects.filter(pk=user.pk).update(credit_limit=None)
    plans = [make_plan(user=user, merchant=merchant, total_amount="999999999999.99") for _ in range(2)]
    ids = [str(i.pk) for plan in plans for i in plan.installments.all()]
    r = client_api.post(f"/api/v1/debt/{user.pk}/", {"installment_ids": ids})
    assert errors_on(r) == {"installment_ids"}
    assert r.json()["errors"][0]["code"] == "max_value"
    # Half of them is below the bound and goes through.
    assert client_api.post(f"/api/v1/debt/{user.pk}/", {"installment_ids": ids[:3]}).status_code == 201
