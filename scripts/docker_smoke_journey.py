"""The journey of scripts/docker-smoke.sh: a customer's way through the running compose stack, via nginx.

Standard library only (it runs on the host, outside the project's virtualenv). Every request goes
to nginx over HTTPS, verified against the stack's own self-signed certificate. Keys, the merchant
and the webhook signature come from the web container (`manage.py`, `webhooks.signature`), as an
operator would make them. Each step prints one line; the first failure says which step and why
and exits non-zero.

Environment: SMOKE_HTTPS (https://localhost:PORT), SMOKE_HTTP (http://localhost:PORT),
SMOKE_CA (the stack's certificate), SMOKE_COMPOSE (the compose command, words separated by
spaces, no quoting), SMOKE_DEADLINE_S (how long the worker and beat get, default 120).
"""
import json
import os
import shlex
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

HTTPS = os.environ["SMOKE_HTTPS"]
HTTP = os.environ["SMOKE_HTTP"]
COMPOSE = shlex.split(os.environ["SMOKE_COMPOSE"])
DEADLINE_S = float(os.environ.get("SMOKE_DEADLINE_S", "120"))
TLS = ssl.create_default_context(cafile=os.environ["SMOKE_CA"])
STARTED = time.monotonic()


class StepFailed(Exception):
    pass


def say(text: str) -> None:
    print(f"  [{time.monotonic() - STARTED:5.1f}s] {text}", flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailed(message)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(urllib.request.HTTPSHandler(context=TLS), _NoRedirect)


def request(method: str, url: str, *, key: str | None = None, body: bytes | dict | None = None,
            headers: dict | None = None) -> tuple[int, dict, Any]:
    headers = dict(headers or {})
    headers.setdefault("Accept", "application/json")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    # https:// of the stack, or http:// for the redirect check: never another scheme.
    url = url if url.startswith(("https://", "http://")) else HTTPS + url
    req = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    try:
        with OPENER.open(req, timeout=15) as resp:
            status, resp_headers, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        status, resp_headers, raw = exc.code, exc.headers, exc.read()
    kind = resp_headers.get("Content-Type", "")
    data = json.loads(raw) if raw and "json" in kind else raw.decode(errors="replace")
    return status, dict(resp_headers), data


def expect(status_wanted: int, method: str, url: str, **kwargs: Any) -> tuple[dict, Any]:
    status, headers, data = request(method, url, **kwargs)
    check(status == status_wanted, f"{method} {url}: HTTP {status}, wanted {status_wanted}: {str(data)[:400]}")
    return headers, data


def manage(*args: str, env: dict | None = None, stdin: bytes | None = None) -> str:
    """``python ARGS`` in the web container; its stdout."""
    extra = [arg for name, value in (env or {}).items() for arg in ("-e", f"{name}={value}")]
    cmd = [*COMPOSE, "exec", "-T", *extra, "web", "python", *args]
    done = subprocess.run(cmd, input=stdin or b"", capture_output=True, timeout=120)  # noqa: S603
    check(done.returncode == 0, f"{' '.join(args[:2])} in the web container failed: "
                                f"{done.stderr.decode(errors='replace')[-600:]}")
    return done.stdout.decode()


def poll(what: str, probe: Callable[[], tuple[bool, Any]], deadline_s: float = DEADLINE_S,
         every_s: float = 1.0) -> Any:
    """probe() until it returns something truthy; the last seen value in the failure."""
    until, last = time.monotonic() + deadline_s, None
    while time.monotonic() < until:
        ok, last = probe()
        if ok:
            return last
        time.sleep(every_s)
    raise StepFailed(f"{what}: not within {deadline_s:.0f} s; last seen: {json.dumps(last, default=str)[:600]}")


def main() -> None:
    # --- nginx in front ------------------------------------------------------------------
    status, headers, _ = request("GET", f"{HTTP}/api/v1/users/?phone_number=x")
    check(status == 301 and headers.get("Location", "").startswith("https://"), f"HTTP is not redirected: {status}")
    headers, body = expect(200, "GET", "/api/v1/health/live/")
    check(headers.get("Strict-Transport-Security", "").startswith("max-age="), "no HSTS header from nginx")
    check(bool(headers.get("X-Request-ID")), "no X-Request-ID")
    say("nginx: HTTP redirects to HTTPS, TLS verified against the stack's certificate, liveness 200")
    expect(404, "GET", "/metrics")
    say("nginx: /metrics is not routed publicly (404)")

    # --- operator setup in the container: the management commands, in one process -----------------
    out = manage("-c", "import io, django; django.setup()\n"
                       "from django.core.management import call_command\n"
                       "def run(*args):\n"
                       "    out = io.StringIO(); call_command(*args, stdout=out, stderr=io.StringIO())\n"
                       "    return out.getvalue()\n"
                       "merchant = dict(l.split(': ', 1) for l in run('create_merchant', '--name', 'Smoke Shop')"
                       ".splitlines() if ': ' in l)\n"
                       "print('merchant', merchant['id'], merchant['webhook_secret'])\n"
                       "for role in ('client', 'merchant', 'operator'):\n"
                       "    extra = ['--merchant', merchant['id']] if role == 'merchant' else []\n"
                       "    print('key', role, run('create_api_key', '--role', role, '--name', 'smoke-' + role, *extra)"
                       ".strip().splitlines()[-1])\n")
    lines = [line.split() for line in out.splitlines()]
    merchant_id, secret = next(words[1:] for words in lines if words[0] == "merchant")
    keys = {words[1]: words[2] for words in lines if words[0] == "key"}
    check(secret.startswith("whsec_") and set(keys) == {"client", "merchant", "operator"}, f"setup printed: {out}")
    say("manage.py create_merchant, create_api_key --role client|merchant|operator (web container)")
    expect(401, "GET", "/api/v1/users/")

    # --- a customer, a plan, a refund ---------------------------------------------------------
    _, user = expect(201, "POST", "/api/v1/users/", key=keys["client"], body={
        "full_name": "Smoke Test", "phone_number": "+998901234567", "passport_number": "AA1234567",
        "date_of_birth": "1990-05-17", "card_number": "4111 1111 1111 1111"})
    check(user["phone_number"] == "+998****4567" and "1234567" not in json.dumps(user), f"user not masked: {user}")
    say(f"client: user created, masked ({user['phone_number']})")
    _, plan = expect(201, "POST", "/api/v1/plans/", key=keys["client"], body={
        "user_id": user["id"], "merchant_id": merchant_id, "total_amount": "1200.00", "installment_count": 3})
    amounts = [i["amount"] for i in plan["installments"]]
    check(plan["status"] == "ACTIVE" and amounts == ["400.00", "400.00", "400.00"], f"plan: {plan}")
    say(f"client: plan created, {plan['status']}, installments {amounts}")
    refund_body = {"plan_id": plan["id"], "transaction_id": f"smoke-{uuid.uuid4().hex[:12]}", "amount": "300.00",
                   "reason": "returned one item"}
    idem = {"Idempotency-Key": str(uuid.uuid4())}
    _, refund = expect(201, "POST", "/api/v1/refunds/", key=keys["client"], body=refund_body, headers=idem)
    check(refund["status"] == "PENDING", f"refund: {refund}")
    headers, replay = expect(201, "POST", "/api/v1/refunds/", key=keys["client"], body=refund_body, headers=idem)
    check(headers.get("Idempotent-Replayed") == "true" and replay["id"] == refund["id"], "no idempotent replay")
    say("client: refund created PENDING; the same Idempotency-Key replays it")

    # --- the merchant's signed webhook, applied by the worker ------------------------------------
    event_id = f"msg_{uuid.uuid4().hex}"
    timestamp = str(int(time.time()))
    body = json.dumps({"type": "refund.status_changed", "timestamp": datetime.now(UTC).isoformat(),
                       "data": {"merchant_id": merchant_id, "refund_id": refund["id"],
                                "status": "APPROVED"}}).encode()
    signature = manage("-c", "import os, sys, django; django.setup(); from webhooks.signature import sign; "
                             "print(sign(secret=os.environ['WHSEC'], msg_id=os.environ['MSG_ID'], "
                             "timestamp=os.environ['MSG_TS'], body=sys.stdin.buffer.read()))",
                       env={"WHSEC": secret, "MSG_ID": event_id, "MSG_TS": timestamp}, stdin=body).strip()
    webhook_headers = {"webhook-id": event_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    expect(401, "POST", "/webhook/refund-status/", body=body,
           headers={**webhook_headers, "webhook-signature": "v1,AAAA" + signature[7:]})
    _, accepted = expect(202, "POST", "/webhook/refund-status/", body=body, headers=webhook_headers)
    check(accepted.get("status") == "accepted", f"webhook: {accepted}")
    say("merchant: webhook signed with webhooks.signature.sign accepted (202); a forged signature is 401")

    def refund_decided() -> tuple[bool, Any]:
        status, _, data = request("GET", f"/api/v1/refunds/{refund['id']}/", key=keys["client"])
        return status == 200 and data.get("status") == "APPROVED", data

    approved = poll("the worker applying the webhook", refund_decided, every_s=0.5)
    check(approved["applied_amount"] == "300.00", f"approved refund: {approved}")
    _, duplicate = expect(200, "POST", "/webhook/refund-status/", body=body, headers=webhook_headers)
    check(duplicate.get("status") == "duplicate", f"replayed webhook: {duplicate}")
    _, events = expect(200, "GET", "/api/v1/webhook-events/", key=keys["operator"])
    event = next((e for e in events["results"] if e.get("webhook_id") == event_id), None)
    check(event is not None and event.get("status") == "PROCESSED", f"webhook event: {event}")
    _, plan_after = expect(200, "GET", f"/api/v1/plans/{plan['id']}/", key=keys["merchant"])
    check(plan_after["refunded_amount"] == "300.00" and plan_after["outstanding_amount"] == "900.00",
          f"plan after the refund: {plan_after}")
    say("worker: the refund is APPROVED (300.00 applied, plan outstanding 900.00), the event PROCESSED; "
        "the same webhook-id again is a 200 duplicate")

    # --- the health page: every check ok, the sweep run by beat ----------------------------------
    def all_ok() -> tuple[bool, Any]:
        status, _, data = request("GET", "/api/v1/health/?format=json", key=keys["operator"])
        if status != 200 or not isinstance(data, dict):
            return False, {"status": status, "body": data}
        checks = data.get("checks", {})
        sweep = checks.get("overdue_sweep", {})
        ok = data.get("status") == "ok" and all(c.get("status") == "ok" for c in checks.values()) \
            and bool(sweep.get("last_run"))
        return ok, {"status": data.get("status"), "checks": {k: v.get("status") for k, v in checks.items()},
                    "sweep_last_run": sweep.get("last_run")}

    health = poll("the health page all ok with a sweep run by beat", all_ok)
    say(f"health: {health['status']}, checks {health['checks']}, "
        f"sweep finished {health['sweep_last_run'].get('finished_at')}")
    status, _, anonymous = request("GET", "/api/v1/health/?format=json")
    check(status == 200 and anonymous.get("status") == "ok", f"anonymous health: {status} {anonymous}")
    say("health: ok for an anonymous caller too")

    # --- /metrics on the internal network: gunicorn's workers merged (multi-process mode) ---------
    scrape = manage("-c", "import os, urllib.request as u; r = u.urlopen(u.Request('http://127.0.0.1:8000/metrics', "
                          "headers={'Authorization': 'Bearer ' + os.environ['BNPL_METRICS_TOKEN']}), timeout=10); "
                          "print(r.status); print(r.read().decode())")
    check(scrape.startswith("200") and "bnpl_http_requests_total" in scrape, f"/metrics: {scrape[:300]}")
    say("metrics: web:8000/metrics (internal network, token) counts the journey's requests, multi-process mode")


if __name__ == "__main__":
    try:
        main()
    except (StepFailed, KeyError, urllib.error.URLError, subprocess.TimeoutExpired) as exc:
        print(f"  journey FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    say("journey passed")
