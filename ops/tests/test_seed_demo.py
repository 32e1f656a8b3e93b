"""``manage.py seed_demo``: demo rows through the services and a curl walkthrough with working keys."""
import io
import json
import os
import re
import subprocess

import pytest
from django.conf import settings
from django.core.management import call_command

from bnpl.models import ApiKey, Role, hash_api_key
from merchants.models import Merchant
from ops.management.commands.seed_demo import DEMO_RECEIVER, WALKTHROUGH_MARKER
from users.models import Customer

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", "--base-url", "http://demo.test:8000/", stdout=out)
    return out.getvalue()


def test_seed_demo_prints_curl_lines_with_the_created_keys(anon_api):
    output = _seed()
    keys = dict(re.findall(r"^\s+(client|merchant|operator) key:\s+(bnpl_\S+)", output, re.MULTILINE))
    assert set(keys) == {"client", "merchant", "operator"}
    for role, raw in keys.items():
        api_key = ApiKey.objects.get(key_hash=hash_api_key(raw))
        assert api_key.role == role
        # The walkthrough exports each key once and its commands use it ($CLIENT_KEY, ...).
        variable = f"{role.upper()}_KEY"
        assert any(line.startswith("export ") and f"{variable}={raw}" in line for line in output.splitlines()), role
        assert any(line.startswith(("call ", "REFUND")) and f"${variable}" in line for line in output.splitlines())
    assert ApiKey.objects.get(key_hash=hash_api_key(keys["merchant"])).merchant.name == "Demo Electronics"
    # The base URL is exported once (trailing slash dropped) and every request is under it.
    assert "export BASE=http://demo.test:8000\n" in output and '"$BASE/api/v1/' in output and "//api" not in output

    alice = Customer.objects.get(full_name="Alice Demo")
    assert f"ALICE={alice.id} " in output and '"$BASE/api/v1/users/$ALICE/"' in output
    # No raw personal data in the walkthrough.
    assert "+998901110001" not in output and "DM1110001" not in output and "4111111111111111" not in output

    # The printed client key really works.
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {keys['client']}")
    r = anon_api.get(f"/api/v1/users/{alice.id}/")
    assert r.status_code == 200 and r.json()["phone_number"] == "+998****0001"


def test_seed_demo_twice_reuses_rows_and_issues_new_keys():
    first, second = _seed(), _seed()
    from ops.management.commands.seed_demo import USERS
    from plans.models import Plan
    from refunds.models import Refund

    # The walkthrough's four users, plans and refunds, and the ledger step's (refunds/demo.py): two
    # users (Erin, Frank), two plans, five refunds; nothing twice.
    assert Customer.objects.filter(full_name__endswith=" Demo").count() == len(USERS) + 2 == 6
    assert Plan.objects.count() == 4 + 2 and Refund.objects.count() == 4 + 5
    assert Merchant.objects.filter(name="Demo Electronics").count() == 1
    assert ApiKey.objects.filter(role=Role.CLIENT).count() == 2
    key = re.compile(r"client key:\s+(\S+)")
    assert key.search(first)[1] != key.search(second)[1]


def test_seed_demo_covers_every_state():
    _seed()
    from plans.models import Installment, Plan
    from refunds.models import Refund

    assert set(Plan.objects.values_list("status", flat=True)) == {"ACTIVE", "COMPLETED"}
    assert set(Installment.objects.values_list("status", flat=True)) == {"UPCOMING", "OVERDUE", "PAID", "CANCELLED"}
    assert set(Refund.objects.values_list("status", flat=True)) == {"PENDING", "APPROVED", "REJECTED"}
    statuses = dict(Customer.objects.values_list("full_name", "status"))
    assert statuses["Bob Demo"] == "DEBT_USER"
    assert statuses["Alice Demo"] == statuses["Carol Demo"] == statuses["Dave Demo"] == "NORMAL"


def test_seed_demo_refuses_production_settings(settings):
    settings.SETTINGS_MODULE = "bnpl.settings.production"
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo", stdout=io.StringIO())


def test_seed_demo_prints_the_merchant_secret_and_json_not_python_reprs():
    output = _seed()
    merchant = Merchant.objects.get(name="Demo Electronics")
    assert f"merchant secret: {merchant.webhook_secret}" in output and merchant.webhook_secret.startswith("whsec_")
    sweep_line = next(line for line in output.splitlines() if "overdue sweep:" in line)
    assert json.loads(sweep_line.split("overdue sweep:", 1)[1])["skipped"] is False
    assert "{'" not in output and "': " not in output.replace('": ', "")  # no Python dict anywhere


def test_seed_demo_shows_every_kind_of_journal_transaction_payout_state_and_a_reversal():
    output = _seed()
    from debt.models import Repayment
    from ledger.models import JournalTransaction, Kind, Payout
    from ledger.reconcile import reconcile

    kinds = set(JournalTransaction.objects.values_list("kind", flat=True))
    assert kinds == {Kind.PLAN_OPENED, Kind.REPAYMENT, Kind.REPAYMENT_REVERSED, Kind.REFUND_APPLIED,
                     Kind.REFUND_PAYOUT, Kind.PAYOUT_SETTLED}  # fees come with section 13
    assert set(Payout.objects.values_list("status", flat=True)) == {"PENDING", "SENT", "SETTLED", "FAILED"}
    assert Repayment.objects.filter(reversed_at__isnull=False).count() == 1
    assert "/transactions/" in output and "/payouts/" in output and "reconcile" in output
    assert reconcile()["mismatch_count"] == 0


def _walkthrough(output: str) -> str:
    return output.split(WALKTHROUGH_MARKER, 1)[1]


def test_every_request_of_the_walkthrough_says_what_it_must_answer():
    script = _walkthrough(_seed())
    requests = [line for line in script.splitlines() if re.match(r"^(\w+=\$\()?call ", line)]
    assert len(requests) >= 15
    assert all(re.search(r"# expect [1-5]\d\d$", line) for line in requests), requests
    assert "demo-return-003" not in script  # the seed's own transaction ids are never reused


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_printed_walkthrough_runs_against_a_live_server():
    """Seed, start gunicorn on a free port, paste the walkthrough into bash: every status is the one printed."""
    from bnpl.testing.db import current_database_url
    from bnpl.testing.processes import gunicorn_server, redis_server
    from events.models import EndpointStatus, WebhookDelivery, WebhookEndpoint
    from refunds.models import Refund
    from webhooks.models import WebhookEvent

    # The production settings, with the local settings' acceptance of a receiver on this machine.
    with redis_server() as redis, gunicorn_server(database_url=current_database_url(application_name="seed-demo"),
                                                  redis_url=redis.url, BNPL_WEBHOOK_ALLOW_PRIVATE="1") as base_url:
        out = io.StringIO()
        call_command("seed_demo", "--base-url", base_url, stdout=out)
        script = _walkthrough(out.getvalue())
        # The walkthrough's local commands (sign_webhook, reconcile) run against this test's database.
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bnpl.settings.local",
               "DATABASE_URL": current_database_url(application_name="seed-demo-cli"),
               "BNPL_FIELD_ENCRYPTION_KEYS": ",".join(settings.BNPL_FIELD_ENCRYPTION_KEYS),
               "BNPL_LOOKUP_HASH_KEY": settings.BNPL_LOOKUP_HASH_KEY}
        result = subprocess.run(["bash", "-c", script], cwd=settings.BASE_DIR, capture_output=True,  # noqa: S603,S607
                                text=True, timeout=120, env=env)
    expected = [int(code) for code in re.findall(r"# expect (\d{3})$", script, re.MULTILINE)]
    answered = [int(code) for code in re.findall(r" -> HTTP (\d{3})", result.stderr)]
    assert answered == expected, (result.stdout[-3000:], result.stderr[-3000:])
    assert "Traceback" not in result.stderr
    # Step 6 approved the refund it created; step 7's webhook was stored once for the other one.
    approved = Refund.objects.get(transaction_id__endswith="-return")
    assert approved.status == "APPROVED" and approved.transaction_id.startswith("demo-")
    rejected_by_webhook = Refund.objects.get(transaction_id__endswith="-return2")
    assert WebhookEvent.objects.filter(refund=rejected_by_webhook).count() == 1
    assert "bnpl_webhook_events" in result.stdout
    # Step 10: the events endpoints, and a webhook endpoint created, shown, sent an event, rotated, deleted.
    for path in ("/api/v1/events/?type=", "/api/v1/events/$EVENT_ID/", "/api/v1/events/$EVENT_ID/redeliver/",
                 "/api/v1/webhook-endpoints/\"", "/api/v1/webhook-endpoints/$ENDPOINT_ID/\"",
                 "/api/v1/webhook-endpoints/$ENDPOINT_ID/deliveries/", "/rotate-secret/",
                 "/api/v1/plans/$ERIN_PLAN/transactions/", "/api/v1/users/$ERIN/transactions/"):
        assert path in script, path
    endpoint = WebhookEndpoint.objects.get(url=DEMO_RECEIVER)
    assert endpoint.status == EndpointStatus.DELETED and endpoint.previous_secret  # rotated, then deleted
    assert re.search(r"endpoint secret \(shown once\): whsec_\S+", result.stderr)
    redelivered = WebhookDelivery.objects.get(endpoint=endpoint)
    assert redelivered.event.type == "refund.approved" and redelivered.event.merchant.name == "Demo Electronics"


def test_the_walkthroughs_local_receiver_is_accepted_by_the_local_settings_only():
    """Step 10 registers an endpoint on localhost: the local settings (``make run``) accept it, the
    production settings keep refusing private addresses unless configured to (API.md §14)."""
    from ops.tests.test_redis_mode import _settings_in_a_new_process

    local = _settings_in_a_new_process({}, "settings.BNPL_WEBHOOK_ALLOW_PRIVATE")
    assert local.returncode == 0, local.stderr
    assert local.stdout.strip() == "True"
    base = _settings_in_a_new_process({}, "settings.BNPL_WEBHOOK_ALLOW_PRIVATE", module="bnpl.settings.test")
    assert base.returncode == 0, base.stderr
    assert base.stdout.strip() == "False"
