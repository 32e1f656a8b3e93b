"""A small demo dataset, printed as a walkthrough of curl commands.

Everything goes through the services (the only writers). Re-running reuses the demo users,
merchant and plans and creates fresh API keys (raw keys cannot be shown twice). The data
covers every state: plans ACTIVE and COMPLETED; installments UPCOMING, OVERDUE, PAID and
CANCELLED; a user in debt; refunds PENDING, APPROVED and REJECTED.
"""
import json
import shlex
import uuid
from datetime import date
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bnpl.crypto import lookup_hash
from bnpl.dates import business_today
from bnpl.models import Role
from bnpl.money import to_minor
from bnpl.services import api_key_create
from debt.services import repayment_apply, sweep_overdue
from merchants.models import Merchant
from merchants.services import merchant_create
from plans.models import Plan
from plans.services import plan_create
from refunds.demo import seed_ledger_demo
from refunds.models import Refund
from refunds.services import refund_approve, refund_create, refund_reject
from users.models import Customer
from users.services import user_create

MERCHANT_NAME = "Demo Electronics"
# Fictitious people; numbers valid in form only.
USERS: dict[str, dict[str, str | None]] = {
    "alice": {"full_name": "Alice Demo", "phone_number": "+998901110001", "passport_number": "DM1110001",
              "date_of_birth": "1991-03-14", "card_number": "4111111111111111"},
    "bob": {"full_name": "Bob Demo", "phone_number": "+998901110002", "passport_number": "DM1110002",
            "date_of_birth": "1988-11-02", "card_number": None},
    "carol": {"full_name": "Carol Demo", "phone_number": "+998901110003", "passport_number": "DM1110003",
              "date_of_birth": "1979-07-30", "card_number": None},
    "dave": {"full_name": "Dave Demo", "phone_number": "+998901110004", "passport_number": "DM1110004",
             "date_of_birth": "1995-01-09", "card_number": "5555555555554444"},
}


class Command(BaseCommand):
    help = "Create demo users, a merchant, API keys, plans in every state, refunds and a sweep; print a walkthrough."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the service answers")
        parser.add_argument("--allow-production", action="store_true",
                            help="seed even with production settings (never do this with real customers)")

    def handle(self, *args, base_url: str, allow_production: bool, **options):
        if settings.SETTINGS_MODULE.endswith(".production") and not allow_production:
            raise CommandError("refusing to seed demo data with production settings (--allow-production)")
        base = base_url.rstrip("/")
        users = {name: self._user(data) for name, data in USERS.items()}
        merchant = Merchant.objects.filter(name=MERCHANT_NAME).order_by("created_at").first()
        merchant = merchant or merchant_create(name=MERCHANT_NAME)
        _, client_key = api_key_create(role=Role.CLIENT, name="demo client app")
        _, merchant_key = api_key_create(role=Role.MERCHANT, name="demo merchant", merchant=merchant)
        operator, operator_key = api_key_create(role=Role.OPERATOR, name="demo operator")
        decided_by = f"api_key:{operator.pk}"
        today = business_today()

        # Alice: an ACTIVE plan, partly repaid, one refund approved, one pending, one rejected.
        alice_plan = self._plan(users["alice"], merchant, "1200.00", today)
        if not users["alice"].repayments.exists():
            repayment_apply(user=users["alice"], amount=to_minor(Decimal("100.00")))
        self._refund(alice_plan, "demo-return-001", "150.00", "Returned headphones", approve=decided_by)
        self._refund(alice_plan, "demo-return-004", "20.00", "Changed mind after use", reject=decided_by)
        pending = self._refund(alice_plan, "demo-return-002", "50.00", "Damaged box")
        # Bob: started two months and ten days ago, two installments past due: the sweep makes him DEBT_USER.
        self._plan(users["bob"], merchant, "900.00", today - relativedelta(months=2, days=10))
        # Carol: refunded in full before paying anything: every installment CANCELLED, plan COMPLETED.
        carol_plan = self._plan(users["carol"], merchant, "300.00", today)
        self._refund(carol_plan, "demo-return-003", "300.00", "Order cancelled", approve=decided_by)
        # Dave: paid every installment: PAID, plan COMPLETED.
        dave_plan = self._plan(users["dave"], merchant, "600.00", today)
        open_ids = list(dave_plan.installments.filter(paid_amount=0).values_list("id", flat=True))
        if open_ids:
            repayment_apply(user=users["dave"], installment_ids=open_ids)
        sweep = sweep_overdue()
        # The ledger's own demo data, a separate step: every kind of journal transaction, a payout in
        # each state and a reversed repayment (refunds/demo.py).
        ledger_demo = seed_ledger_demo(merchant=merchant)

        self._walkthrough(base, users, merchant, alice_plan, pending, sweep, ledger_demo,
                          client_key=client_key, merchant_key=merchant_key, operator_key=operator_key)

    # --- data --------------------------------------------------------------------

    def _user(self, data: dict) -> Customer:
        existing = Customer.objects.filter(passport_hash=lookup_hash(data["passport_number"])).first()
        if existing:
            return existing
        return user_create(**{**data, "date_of_birth": date.fromisoformat(data["date_of_birth"])})

    def _plan(self, user: Customer, merchant: Merchant, total: str, start: date) -> Plan:
        existing = Plan.objects.filter(user=user, merchant=merchant).order_by("created_at").first()
        if existing:
            return existing
        created = plan_create(user=user, merchant=merchant, total_amount=to_minor(Decimal(total)),
                              installment_count=3, start_date=start, bound_backdating=False)
        if created.refusal is not None:
            raise CommandError(f"Could not open the demo plan: {created.refusal.detail}")
        assert created.plan is not None  # no refusal: the plan was opened
        return created.plan

    def _refund(self, plan: Plan, transaction_id: str, amount: str, reason: str, *,
                approve: str | None = None, reject: str | None = None) -> Refund:
        refund, _ = refund_create(plan=plan, transaction_id=transaction_id, amount=to_minor(Decimal(amount)),
                                  reason=reason)
        if refund.status == "PENDING" and approve:
            refund = refund_approve(refund=refund, decided_by=approve)
        elif refund.status == "PENDING" and reject:
            refund = refund_reject(refund=refund, decided_by=reject, reason="Used item")
        return refund

    # --- output --------------------------------------------------------------------

    def _walkthrough(self, base, users, merchant, plan, refund, sweep, ledger, *, client_key, merchant_key,
                     operator_key):
        """A shell session to paste, in order: every command works on a fresh seed.

        Each request goes through ``call`` (curl printing the body, then the HTTP status on stderr)
        and ends with ``# expect NNN``, the status it must answer (``ops/tests/test_seed_demo.py``
        runs the whole walkthrough against a live server and checks each one).
        """
        alice, bob = users["alice"], users["bob"]
        run = uuid.uuid4().hex[:8]  # this run's idempotency keys and transaction ids: new on every seed
        today = business_today().isoformat()
        json_id = ".venv/bin/python -c \"import json, sys; print(json.load(sys.stdin)['id'])\""
        client = '-H "Authorization: Bearer $CLIENT_KEY"'
        merchant_auth = '-H "Authorization: Bearer $MERCHANT_KEY"'
        operator = '-H "Authorization: Bearer $OPERATOR_KEY"'
        post = '-X POST -H "Content-Type: application/json" -H "Idempotency-Key: {}"'.format
        alice_plan_body = json.dumps({"user_id": str(alice.id), "merchant_id": str(merchant.id),
                                      "total_amount": "300.00", "installment_count": 3, "start_date": today})
        bob_plan_body = json.dumps({"user_id": str(bob.id), "merchant_id": str(merchant.id),
                                    "total_amount": "100.00", "installment_count": 3})
        lines = [
            "Demo data ready.",
            f"  client key:      {client_key}",
            f"  merchant key:    {merchant_key}  (merchant {merchant.id})",
            f"  merchant secret: {merchant.webhook_secret}  (signs the merchant's webhooks)",
            f"  operator key:    {operator_key}",
            f"  users: {alice.full_name} {alice.id}, {bob.full_name} {bob.id}",
            f"  overdue sweep: {json.dumps(sweep, default=str)}",
            "",
            WALKTHROUGH_MARKER,
            f"export BASE={shlex.quote(base)}",
            f"export CLIENT_KEY={client_key} MERCHANT_KEY={merchant_key} OPERATOR_KEY={operator_key}",
            f"export MERCHANT_ID={merchant.id} WHSEC={shlex.quote(merchant.webhook_secret)}",
            f"export ALICE={alice.id} BOB={bob.id} ALICE_PLAN={plan.id}",
            "call() { curl -sS -w '%{stderr} -> HTTP %{http_code}\\n' \"$@\"; echo; }",
            "",
            "# 1. Health with business figures (operator key); without a key each check shows its status only",
            f'call {operator} -H "Accept: application/json" "$BASE/api/v1/health/"  # expect 200',
            "# 2. A user, masked for everyone",
            f'call {client} "$BASE/api/v1/users/$ALICE/"  # expect 200',
            "# 3. A new plan for Alice; the same Idempotency-Key again replays it (Idempotent-Replayed: true)",
            f"call {client} {post(f'demo-{run}-plan')} \"$BASE/api/v1/plans/\" -d '{alice_plan_body}'"
            "  # expect 201",
            f"call {client} {post(f'demo-{run}-plan')} \"$BASE/api/v1/plans/\" -d '{alice_plan_body}'"
            "  # expect 201",
            "# 4. Bob has overdue installments: 409 user_in_debt",
            f"call {client} {post(f'demo-{run}-bob')} \"$BASE/api/v1/plans/\" -d '{bob_plan_body}'"
            "  # expect 409",
            "# 5. Bob's debt, then a repayment of everything overdue (oldest first)",
            f'call {client} "$BASE/api/v1/debt/$BOB/"  # expect 200',
            f"call {client} {post(f'demo-{run}-repay')} \"$BASE/api/v1/debt/$BOB/\" -d '{{\"amount\": \"600.00\"}}'"
            "  # expect 201",
            "# 6. The merchant opens a refund on Alice's plan, then approves that same refund",
            f"REFUND_ID=$(call {merchant_auth} {post(f'demo-{run}-refund')} \"$BASE/api/v1/refunds/\" -d "
            f"'{{\"plan_id\": \"'$ALICE_PLAN'\", \"transaction_id\": \"demo-{run}-return\", "
            f"\"amount\": \"25.00\"}}' | {json_id})  # expect 201",
            'echo "refund $REFUND_ID"',
            f"call {merchant_auth} {post(f'demo-{run}-approve')} \"$BASE/api/v1/refunds/$REFUND_ID/approve/\""
            "  # expect 200",
            "# 7. Another refund, rejected by the merchant's signed webhook (Standard Webhooks, its whsec_ secret)",
            f"REFUND2_ID=$(call {merchant_auth} {post(f'demo-{run}-refund2')} \"$BASE/api/v1/refunds/\" -d "
            f"'{{\"plan_id\": \"'$ALICE_PLAN'\", \"transaction_id\": \"demo-{run}-return2\", "
            f"\"amount\": \"30.00\"}}' | {json_id})  # expect 201",
            "BODY=$(printf '{\"type\": \"refund.status_changed\", \"data\": {\"merchant_id\": \"%s\", "
            "\"refund_id\": \"%s\", \"status\": \"REJECTED\", \"reason\": \"Item never returned\"}}' "
            '"$MERCHANT_ID" "$REFUND2_ID")',
            f'MSG_ID=msg_demo_{run}; TS=$(date +%s)',
            '# Sign it with the project\'s own code (webhooks.signature.sign): "v1,<base64 HMAC-SHA256>"',
            'SIG=$(.venv/bin/python manage.py sign_webhook --secret "$WHSEC" --id "$MSG_ID" --timestamp "$TS" '
            '--body "$BODY")',
            'call -X POST "$BASE/webhook/refund-status/" -H "Content-Type: application/json" '
            '-H "webhook-id: $MSG_ID" -H "webhook-timestamp: $TS" -H "webhook-signature: $SIG" '
            '--data-raw "$BODY"  # expect 202',
            "# The same webhook again: answered once, not applied twice",
            'call -X POST "$BASE/webhook/refund-status/" -H "Content-Type: application/json" '
            '-H "webhook-id: $MSG_ID" -H "webhook-timestamp: $TS" -H "webhook-signature: $SIG" '
            '--data-raw "$BODY"  # expect 200',
            "# 8. Operators see everything: pending refunds, and the webhook inbox with each event's state",
            f'call {operator} "$BASE/api/v1/refunds/?status=PENDING"  # expect 200',
            f'call {operator} "$BASE/api/v1/webhook-events/"  # expect 200',
            *self._ledger_steps(ledger, client, operator, post),
            *self._events_steps(client, merchant_auth, post, run),
            "# 11. Metrics (internal network; add -H \"Authorization: Bearer $BNPL_METRICS_TOKEN\" if it is set)",
            'call "$BASE/metrics" | grep "^bnpl_webhook_events"  # expect 200',
        ]
        self.stdout.write("\n".join(lines))

    def _events_steps(self, client, merchant, post, run) -> list[str]:
        """Outbound events (API.md §14): polling, a webhook endpoint, a redelivery and its attempts."""
        first_id = (".venv/bin/python -c \"import json, sys; print(json.load(sys.stdin)['results'][0]['id'])\"")
        # The endpoint's secret is shown once: to stderr, so that the id alone goes into the variable.
        print_endpoint = (".venv/bin/python -c \"import json, sys; e = json.load(sys.stdin); "
                          "print('endpoint secret (shown once):', e['secret'], file=sys.stderr); print(e['id'])\"")
        endpoint_body = json.dumps({"url": DEMO_RECEIVER, "event_types": ["refund.approved", "refund.rejected"],
                                    "description": "Demo receiver"})
        return [
            "# 10. Events: every state change, for polling (oldest first) or pushed to a webhook endpoint",
            f'call {client} "$BASE/api/v1/events/?type=user.status_changed"  # expect 200',
            f'EVENT_ID=$(call {merchant} "$BASE/api/v1/events/?type=refund.approved" | {first_id})  # expect 200',
            f'call {merchant} "$BASE/api/v1/events/$EVENT_ID/"  # expect 200',
            "#    The merchant registers an endpoint (local development settings accept a receiver on this",
            "#    machine; production needs a public https URL), lists it, and has the event sent to it again",
            f"ENDPOINT_ID=$(call {merchant} {post(f'demo-{run}-endpoint')} \"$BASE/api/v1/webhook-endpoints/\" "
            f"-d '{endpoint_body}' | {print_endpoint})  # expect 201",
            f'call {merchant} "$BASE/api/v1/webhook-endpoints/"  # expect 200',
            f'call {merchant} "$BASE/api/v1/webhook-endpoints/$ENDPOINT_ID/"  # expect 200',
            f"call {merchant} {post(f'demo-{run}-redeliver')} \"$BASE/api/v1/events/$EVENT_ID/redeliver/\""
            "  # expect 202",
            "#    Its delivery attempts (nothing listens there: each failure is retried on the schedule)",
            f'call {merchant} "$BASE/api/v1/webhook-endpoints/$ENDPOINT_ID/deliveries/"  # expect 200',
            f"call {merchant} {post(f'demo-{run}-rotate')} "
            "\"$BASE/api/v1/webhook-endpoints/$ENDPOINT_ID/rotate-secret/\"  # expect 200",
            f'call {merchant} -X DELETE "$BASE/api/v1/webhook-endpoints/$ENDPOINT_ID/"  # expect 204',
        ]

    def _ledger_steps(self, demo, client, operator, post) -> list[str]:
        """The ledger's part of the walkthrough (API.md §11), on the data of ``refunds/demo.py``."""
        pending = demo["payouts"].get("PENDING")
        today = business_today().isoformat()
        steps = [
            "# 9. Ledger: every money movement of a plan, oldest first (plan_opened, repayment, repayment_reversed,",
            "#    refund_applied, refund_payout, payout_settled), and the same for a user, newest first",
            f"export ERIN={demo['erin'].id} ERIN_PLAN={demo['erin_plan'].id} FRANK_PLAN={demo['frank_plan'].id}",
            f'call {client} "$BASE/api/v1/plans/$ERIN_PLAN/transactions/"  # expect 200',
            f'call {client} "$BASE/api/v1/plans/$FRANK_PLAN/transactions/"  # expect 200',
            f'call {operator} "$BASE/api/v1/users/$ERIN/transactions/?kind=repayment_reversed"  # expect 200',
            "# The plan as it stood at the end of a business day, rebuilt from the journal",
            f'call {client} "$BASE/api/v1/plans/$ERIN_PLAN/?as_of={today}"  # expect 200',
            "# Payouts in every state; an operator sends the pending one",
            f'call {operator} "$BASE/api/v1/payouts/"  # expect 200',
        ]
        if pending is not None:
            steps += [f"export PAYOUT={pending.id}",
                      f"call {operator} {post('demo-' + uuid.uuid4().hex[:8] + '-payout')} "
                      "\"$BASE/api/v1/payouts/$PAYOUT/mark-sent/\" -d '{\"reference\": \"BANK-42\"}'  # expect 200"]
        steps += [
            "# Status history of a plan (operators)",
            f'call {operator} "$BASE/api/v1/audit-events/?object_id=$ERIN_PLAN"  # expect 200',
            "# The journal against the stored balances: one JSON line, exit 1 on a mismatch",
            ".venv/bin/python manage.py reconcile",
        ]
        return steps

# Where the walkthrough's webhook endpoint points: this machine, where nothing listens (the deliveries
# list then shows failed attempts). Accepted under the local settings (BNPL_WEBHOOK_ALLOW_PRIVATE on).
DEMO_RECEIVER = "https://localhost:8443/bnpl-demo-hooks"

WALKTHROUGH_MARKER = "# --- Walkthrough: paste into a shell at the repository's root, in order ---"
