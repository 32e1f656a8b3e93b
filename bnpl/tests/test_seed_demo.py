"""``manage.py seed_demo``: demo rows through the services and a curl walkthrough with working keys."""
import io
import re

import pytest
from django.core.management import call_command

from bnpl.models import ApiKey, Role, hash_api_key
from merchants.models import Merchant
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
        assert any(line.startswith("curl ") and raw in line for line in output.splitlines()), role
    assert ApiKey.objects.get(key_hash=hash_api_key(keys["merchant"])).merchant.name == "Demo Electronics"
    assert "http://demo.test:8000/api/v1/" in output and "//api" not in output

    alice = Customer.objects.get(full_name="Alice Demo")
    assert f"/api/v1/users/{alice.id}/" in output
    # No raw personal data in the walkthrough.
    assert "+998901110001" not in output and "DM1110001" not in output and "4111111111111111" not in output

    # The printed client key really works.
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {keys['client']}")
    r = anon_api.get(f"/api/v1/users/{alice.id}/")
    assert r.status_code == 200 and r.json()["phone_number"] == "+998****0001"


def test_seed_demo_twice_reuses_rows_and_issues_new_keys():
    first, second = _seed(), _seed()
    from bnpl.management.commands.seed_demo import USERS
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
