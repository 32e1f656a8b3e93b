"""A small demo dataset, printed as a walkthrough of curl commands.

Everything goes through the services (the only writers). Re-running reuses the demo users,
merchant and plans and creates fresh API keys (raw keys cannot be shown twice). The data
covers every state: plans ACTIVE and COMPLETED; installments UPCOMING, OVERDUE, PAID and
CANCELLED; a user in debt; refunds PENDING, APPROVED and REJECTED.
"""
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
USERS = {
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

        self._walkthrough(base, users, merchant, alice_plan, pending, sweep,
                          client_key=client_key, merchant_key=merchant_key, operator_key=operator_key)
        self._ledger_walkthrough(base, ledger_demo, client_key=client_key, operator_key=operator_key)

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
                              installment_count=3, start_date=start)
        if created.refusal is not None:
            raise CommandError(f"Could not open the demo plan: {created.refusal.detail}")
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

    def _walkthrough(self, base, users, merchant, plan, refund, sweep, *, client_key, merchant_key, operator_key):
        alice, bob = users["alice"], users["bob"]
        auth = 'curl -s -H "Authorization: Bearer {}"'.format
        post = ('curl -s -X POST -H "Authorization: Bearer {}" -H "Content-Type: application/json" '
                '-H "Idempotency-Key: {}"').format
        today = business_today().isoformat()
        lines = [
            "Demo data ready.",
            f"  client key:   {client_key}",
            f"  merchant key: {merchant_key}  (merchant {merchant.id})",
            f"  operator key: {operator_key}",
            f"  users: {alice.full_name} {alice.id}, {bob.full_name} {bob.id}",
            "",
            "# 1. Health with business figures (operator key); without a key the figures are left out",
            f'{auth(operator_key)} -H "Accept: application/json" {base}/api/v1/health/',
            "# 2. A user, masked for everyone",
            f"{auth(client_key)} {base}/api/v1/users/{alice.id}/",
            "# 3. A new plan for Alice (retry with the same Idempotency-Key: replayed, not repeated)",
            f"{post(client_key, 'demo-plan-1')} {base}/api/v1/plans/ -d "
            f"'{{\"user_id\": \"{alice.id}\", \"merchant_id\": \"{merchant.id}\", \"total_amount\": \"300.00\", "
            f"\"installment_count\": 3, \"start_date\": \"{today}\"}}'",
            "# 4. Bob has overdue installments: 409 user_in_debt",
            f"{post(client_key, 'demo-plan-2')} {base}/api/v1/plans/ -d "
            f"'{{\"user_id\": \"{bob.id}\", \"merchant_id\": \"{merchant.id}\", \"total_amount\": \"100.00\", "
            f"\"installment_count\": 3}}'",
            "# 5. Bob's debt, then a repayment of everything overdue",
            f"{auth(client_key)} {base}/api/v1/debt/{bob.id}/",
            f"{post(client_key, 'demo-repay-1')} {base}/api/v1/debt/{bob.id}/ -d '{{\"amount\": \"600.00\"}}'",
            "# 6. A refund by the merchant, approved by the merchant",
        ]
        plan_id = plan.id
        lines += [
            f"{post(merchant_key, 'demo-refund-1')} {base}/api/v1/refunds/ -d "
            f"'{{\"plan_id\": \"{plan_id}\", \"transaction_id\": \"demo-return-003\", \"amount\": \"25.00\"}}'",
        ]
        lines.append(f"{post(merchant_key, 'demo-approve-1')} {base}/api/v1/refunds/{refund.id}/approve/")
        lines += [
            "# 7. Operators see everything",
            f"{auth(operator_key)} '{base}/api/v1/refunds/?status=PENDING'",
            f"{auth(operator_key)} {base}/api/v1/webhook-events/",
            "# 8. Metrics (internal network; add -H 'Authorization: Bearer $BNPL_METRICS_TOKEN' if set)",
            f"curl -s {base}/metrics | grep bnpl_",
        ]
        lines += ["", f"Overdue sweep: {sweep}"]
        self.stdout.write("\n".join(lines))

    def _ledger_walkthrough(self, base, demo, *, client_key, operator_key):
        auth = 'curl -s -H "Authorization: Bearer {}"'.format
        post = ('curl -s -X POST -H "Authorization: Bearer {}" -H "Content-Type: application/json" '
                '-H "Idempotency-Key: {}"').format
        pending = demo["payouts"].get("PENDING")
        lines = [
            "",
            "# Ledger: every money movement of a plan, oldest first (plan_opened, repayment, repayment_reversed,",
            "# refund_applied, refund_payout, payout_settled), and the same for a user, newest first",
            f"{auth(client_key)} {base}/api/v1/plans/{demo['erin_plan'].id}/transactions/",
            f"{auth(client_key)} {base}/api/v1/plans/{demo['frank_plan'].id}/transactions/",
            f"{auth(operator_key)} '{base}/api/v1/users/{demo['erin'].id}/transactions/?kind=repayment_reversed'",
            "# The plan as it stood at the end of a business day, rebuilt from the journal",
            f"{auth(client_key)} '{base}/api/v1/plans/{demo['erin_plan'].id}/?as_of={business_today().isoformat()}'",
            "# Payouts in every state; an operator sends the pending one",
            f"{auth(operator_key)} {base}/api/v1/payouts/",
        ]
        if pending is not None:
            lines.append(f"{post(operator_key, 'demo-payout-1')} {base}/api/v1/payouts/{pending.id}/mark-sent/ "
                         "-d '{\"reference\": \"BANK-42\"}'")
        lines += [
            "# Status history of a plan (operators)",
            f"{auth(operator_key)} '{base}/api/v1/audit-events/?object_id={demo['erin_plan'].id}'",
            "# The journal against the stored balances: one JSON line, exit 1 on a mismatch",
            ".venv/bin/python manage.py reconcile",
        ]
        self.stdout.write("\n".join(lines))
