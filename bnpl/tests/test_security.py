"""The OWASP API Top 10 rows of docs/SECURITY.md that no other test proves on its own."""
import ast
import json
import re
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from plans.tests.factories import make_plan
from refunds.models import Refund, RefundStatus
from refunds.tests.factories import make_refund
from users.tests.factories import user_payload
from webhooks.models import WebhookEvent
from webhooks.tests.factories import post_webhook, webhook_body

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent
APPS = ["bnpl", "users", "merchants", "plans", "debt", "refunds", "webhooks"]


# --- API3: object properties the caller may not set are never taken from the body -----------------


def test_status_and_amount_fields_in_a_create_body_are_ignored(client_api, merchant):
    user = client_api.post("/api/v1/users/", {**user_payload(1), "status": "DEBT_USER"})
    assert user.status_code == 201 and user.json()["status"] == "NORMAL"

    plan = client_api.post("/api/v1/plans/", {
        "user_id": user.json()["id"], "merchant_id": str(merchant.pk), "total_amount": "300.00",
        "installment_count": 3, "status": "COMPLETED", "paid_amount": "300.00", "refunded_amount": "300.00",
        "installments": [{"amount": "0.01"}]})
    assert plan.status_code == 201
    body = plan.json()
    assert (body["status"], body["paid_amount"], body["refunded_amount"]) == ("ACTIVE", "0.00", "0.00")
    assert [i["amount"] for i in body["installments"]] == ["100.00", "100.00", "100.00"]

    refund = client_api.post("/api/v1/refunds/", {
        "plan_id": body["id"], "transaction_id": "T-1", "amount": "50.00", "status": "APPROVED",
        "applied_amount": "50.00", "payout_amount": "0.00", "merchant_id": "00000000-0000-0000-0000-000000000000"})
    assert refund.status_code == 201
    assert refund.json()["status"] == "PENDING" and refund.json()["applied_amount"] is None
    assert refund.json()["merchant_id"] == str(merchant.pk)
    assert Refund.objects.get().status == RefundStatus.PENDING


# --- API7: the service fetches no URL, so there is nothing to forge a request through --------------

HTTP_CLIENTS = {"requests", "httpx", "urllib3", "aiohttp", "pycurl", "http.client", "urllib.request", "socket"}
# The only socket: a reachability probe of the configured REDIS_URL at start-up (settings, not input).
ALLOWED = {("bnpl/settings/env.py", "socket")}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_no_application_module_imports_an_http_client():
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            # Test support (bnpl/testing/) never runs in the service; it talks to the test server.
            if "/tests/" in relative or "/testing/" in relative or "/migrations/" in relative:
                continue
            for name in _imports(path):
                if any(name == c or name.startswith(c + ".") for c in HTTP_CLIENTS) and \
                        (relative, name) not in ALLOWED:
                    found.add((relative, name))
    assert found == set()


def test_no_request_body_accepts_a_url(client_api):
    """No serializer of a request body has a URL field (the only URLs are the pagination links out)."""
    schema = client_api.get("/swagger.json").json()
    bodies = [p["schema"] for ops in schema["paths"].values() for op in ops.values() if isinstance(op, dict)
              for p in op.get("parameters", []) if p.get("in") == "body"]
    text = json.dumps([schema["definitions"].get(b.get("$ref", "").split("/")[-1], b) for b in bodies])
    assert '"format": "uri"' not in text and "url" not in text.lower()


# --- API9: one versioned API, its schema, and nothing else exposed ----------------------------------


def _routes(resolver=None, prefix="") -> list[str]:
    out = []
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            out += _routes(pattern, route)
        elif isinstance(pattern, URLPattern):
            out.append(route)
    return out


def test_every_route_is_the_versioned_api_the_webhook_the_schema_admin_or_metrics():
    allowed = ("api/v1/", "webhook/", "admin/", "metrics", "^swagger", "swagger/", "redoc/")
    routes = _routes()
    assert len(routes) > 20  # the walk found the API
    stray = [route for route in routes if not route.startswith(allowed)]
    assert stray == []
    assert not any("debug" in route or "__" in route for route in routes)


def test_every_api_route_is_in_the_served_schema(anon_api):
    """No undocumented endpoint: every /api/v1/ and /webhook/ route is a path of the served schema."""
    schema = anon_api.get("/swagger.json").json()
    documented = {path.strip("/") for path in schema["paths"]}

    for route in _routes():
        if not route.startswith(("api/v1/", "webhook/")):
            continue
        # "api/v1/^plans/(?P<pk>[^/.]+)/$" -> "api/v1/plans/{pk}/": compare with the parameters erased.
        plain = re.sub(r"\(\?P<\w+>[^)]*\)|<[^>]+>|\{[^}]+\}", "{}", route.replace("^", "").replace("$", ""))
        plain = plain.strip("/")
        erased = {re.sub(r"\{[^}]+\}", "{}", p) for p in documented}
        assert plain in erased, route


# --- API10: the webhook's input is data, validated after the signature; extra fields do nothing ------


def test_webhook_fields_beyond_the_contract_are_ignored(anon_api, merchant, django_capture_on_commit_callbacks):
    plan = make_plan(merchant=merchant, total_amount="1000.00")
    refund = make_refund(plan=plan, amount="100.00")
    body = json.loads(webhook_body(merchant=merchant, refund=refund, status="REJECTED"))
    body["data"].update({"amount": "999.00", "plan_id": str(plan.pk), "status_override": "APPROVED"})
    body["callback_url"] = "http://169.254.169.254/latest/meta-data/"
    with django_capture_on_commit_callbacks(execute=True):  # the task applies it (eager in tests)
        r = post_webhook(anon_api, merchant=merchant, body=json.dumps(body).encode())
    assert r.status_code == 202
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REJECTED and refund.amount == 10_000 and refund.applied_amount is None
    assert WebhookEvent.objects.count() == 1
