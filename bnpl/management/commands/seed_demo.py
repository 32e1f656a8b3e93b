"""A small demo dataset, printed as a walkthrough of curl commands.

Everything goes through the services (the only writers). Re-running reuses the demo users,
merchant and plans and creates fresh API keys (raw keys cannot be shown twice). Parts whose
service is not available in this build are skipped with a note.
"""
import inspect
from datetime import date
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bnpl.crypto import lookup_hash
from bnpl.dates import business_today
from bnpl.errors import DomainError
from bnpl.models import Role
from bnpl.services import api_key_create
from merchants.models import Merchant
from merchants.services import merchant_create
from users.models import Customer
from users.services import user_create

MERCHANT_NAME = "Demo Electronics"
# Fictitious people; numbers valid in form only.
USERS = {
    "alice": {"full_name": "Alice Demo", "phone_number": "+998901110001", "passport_number": "DM1110001",
              "date_of_birth": "1991-03-14", "card_number": "4111111111111111"},
    "bob": {"full_name": "Bob Demo", "phone_number": "+998901110002", "passport_number": "DM1110002",
            "date_of_birth": "1988-11-02", "card_number": None},
}


class Command(BaseCommand):
    help = "Create demo users, a merchant, API keys, plans, a refund and a sweep; print a curl walkthrough."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the service answers")
        parser.add_argument("--allow-production", action="store_true",
                            help="seed even with production settings (never do this with real customers)")

    def handle(self, *args, base_url: str, allow_production: bool, **options):
        if settings.SETTINGS_MODULE.endswith(".production") and not allow_production:
            raise CommandError("refusing to seed demo data with production settings (--allow-production)")
        self.notes: list[str] = []
        base = base_url.rstrip("/")
        users = {name: self._user(data) for name, data in USERS.items()}
        merchant = Merchant.objects.filter(name=MERCHANT_NAME).order_by("created_at").first()
        merchant = merchant or merchant_create(name=MERCHANT_NAME)
        _, client_key = api_key_create(role=Role.CLIENT, name="demo client app")
        _, merchant_key = api_key_create(role=Role.MERCHANT, name="demo merchant", merchant=merchant)
        operator, operator_key = api_key_create(role=Role.OPERATOR, name="demo operator")

        alice_plan = self._plan(users["alice"], merchant, Decimal("1200.00"), 3, business_today())
        # Bob's plan started three months ago: two installments are past due, so the sweep marks him DEBT_USER.
        self._plan(users["bob"], merchant, Decimal("900.00"), 3, business_today() - relativedelta(months=2, days=10))
        self._sweep()
        refund = self._refunds(alice_plan, operator)
        self._repay(users["alice"])

        self._walkthrough(base, users, merchant, alice_plan, refund,
                          client_key=client_key, merchant_key=merchant_key, operator_key=operator_key)

    # --- data --------------------------------------------------------------------

    def _user(self, data: dict) -> Customer:
        existing = Customer.objects.filter(passport_hash=lookup_hash(data["passport_number"])).first()
        if existing:
            return existing
        return user_create(**{**data, "date_of_birth": date.fromisoformat(data["date_of_birth"])})

    def _service(self, module: str, name: str):
        try:
            return getattr(__import__(module, fromlist=[name]), name)
        except (ImportError, AttributeError):
            note = f"{module}.{name} is not available in this build: that part of the demo is skipped."
            if note not in self.notes:
                self.notes.append(note)
            return None

    def _plan(self, user, merchant, total: Decimal, count: int, start):
        from plans.models import Plan

        existing = Plan.objects.filter(user=user, merchant=merchant).order_by("created_at").first()
        if existing:
            return existing
        plan_create = self._service("plans.services", "plan_create")
        if plan_create is None:
            return None
        try:
            return plan_create(user=user, merchant=merchant, total_amount=total, installment_count=count,
                               start_date=start)
        except DomainError as exc:
            self.notes.append(f"plan for {user.full_name} not created: {exc.code}")
            return None

    def _sweep(self) -> None:
        sweep_overdue = self._service("debt.services", "sweep_overdue")
        if sweep_overdue is not None:
            result = sweep_overdue()
            self.notes.append(f"overdue sweep ran: {result}")

    def _refunds(self, plan, operator):
        if plan is None:
            return None
        refund_create = self._service("refunds.services", "refund_create")
        refund_approve = self._service("refunds.services", "refund_approve")
        if refund_create is None:
            return None
        approved = refund_create(plan=plan, transaction_id="demo-return-001", amount=Decimal("150.00"),
                                 reason="Returned headphones")
        approved = approved[0] if isinstance(approved, tuple) else approved
        if refund_approve is not None and approved.status == "PENDING":
            try:
                refund_approve(refund=approved, decided_by=f"api_key:{operator.pk}")
            except DomainError as exc:
                self.notes.append(f"refund approval skipped: {exc.code}")
        pending = refund_create(plan=plan, transaction_id="demo-return-002", amount=Decimal("50.00"),
                                reason="Damaged box")
        return pending[0] if isinstance(pending, tuple) else pending

    def _repay(self, user) -> None:
        repayment_apply = self._service("debt.services", "repayment_apply")
        if repayment_apply is None or user.repayments.exists():
            return
        # Built from the signature: the debt service's exact keywords are its own business.
        params = inspect.signature(repayment_apply).parameters
        kwargs = {"user": user, "amount": Decimal("100.00")}
        if "installment_ids" in params:
            kwargs["installment_ids"] = None
        try:
            repayment_apply(**{k: v for k, v in kwargs.items() if k in params})
        except (DomainError, TypeError, ValueError) as exc:
            self.notes.append(f"demo repayment skipped: {type(exc).__name__}")

    # --- output --------------------------------------------------------------------

    def _walkthrough(self, base, users, merchant, plan, refund, *, client_key, merchant_key, operator_key):
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
        plan_id = plan.id if plan is not None else "<plan id>"
        lines += [
            f"{post(merchant_key, 'demo-refund-1')} {base}/api/v1/refunds/ -d "
            f"'{{\"plan_id\": \"{plan_id}\", \"transaction_id\": \"demo-return-003\", \"amount\": \"25.00\"}}'",
        ]
        if refund is not None:
            lines.append(f"{post(merchant_key, 'demo-approve-1')} {base}/api/v1/refunds/{refund.id}/approve/")
        lines += [
            "# 7. Operators see everything",
            f"{auth(operator_key)} '{base}/api/v1/refunds/?status=PENDING'",
            f"{auth(operator_key)} {base}/api/v1/webhook-events/",
            "# 8. Metrics (internal network; add -H 'Authorization: Bearer $BNPL_METRICS_TOKEN' if set)",
            f"curl -s {base}/metrics | grep bnpl_",
        ]
        if self.notes:
            lines += ["", "Notes:"] + [f"  - {note}" for note in self.notes]
        self.stdout.write("\n".join(lines))
