"""The race scenario behind ``test_race_suite.py`` (bounded, in CI) and ``bench/race.py`` (longer, by hand).

Many threads, each with its own ``APIClient`` and therefore its own database connection,
hammer a handful of users (a couple of plans each, some back-dated so they are overdue) with
repayments by amount and by installment ids, refund creations, approvals, rejections,
cancellations and plan creations, over the HTTP API, while one more thread runs the overdue
sweep service directly. Some requests carry an ``Idempotency-Key`` that a second thread sends
again at the same moment (same API key, method, path and body), and some reuse a key with a
different body. Afterwards :func:`check_invariants` reads the database and lists every rule
that does not hold.
"""
import json
import random
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum
from rest_framework.test import APIClient

from bnpl import dates
from bnpl.models import IdempotencyRecord, Role
from bnpl.money import format_minor, to_minor
from bnpl.services import api_key_create
from debt.models import Repayment, RepaymentAllocation
from debt.services import sweep_overdue
from merchants.services import merchant_create
from plans.models import CHECKOUT_STATUSES, Installment, InstallmentStatus, Plan, PlanStatus
from plans.overdue import past_due
from plans.services import plan_create
from refunds.models import Refund, RefundStatus
from users.models import Customer, UserStatus
from users.services import user_create

# What each operation may answer. Anything else (a 5xx above all) is a failure.
IN_USE = (409, "idempotency_key_in_use")
EXPECTED: dict[str, set[tuple[int, str | None]]] = {
    "repay_amount": {(201, None), (400, "validation_error"), IN_USE},
    "repay_ids": {(201, None), (409, "invalid_state"), IN_USE},
    "refund_create": {(201, None), (200, None), (409, "refund_exceeds_refundable"),
                      (409, "duplicate_transaction"), IN_USE},
    "refund_approve": {(200, None), (409, "invalid_state"), IN_USE},
    "refund_reject": {(200, None), (409, "invalid_state"), IN_USE},
    "refund_cancel": {(200, None), (409, "invalid_state"), IN_USE},
    "plan_create": {(201, None), (409, "user_in_debt"), (409, "too_many_open_plans"), (409, "credit_limit_exceeded"),
                    IN_USE},
    "debt_read": {(200, None)},
    "plan_read": {(200, None)},
    # A key sent again with another body: 422, or 409 while the first still runs.
    "key_misuse": {(422, "idempotency_key_reused"), IN_USE},
    # The ledger's operator actions (API.md §11): of racing ones exactly one wins, the rest 409.
    "repay_reverse": {(201, None), (409, "invalid_state"), IN_USE},
    "payout_mark_sent": {(200, None), (409, "invalid_state"), IN_USE},
    "payout_mark_settled": {(200, None), (409, "invalid_state"), IN_USE},
    "payout_mark_failed": {(200, None), (409, "invalid_state"), IN_USE},
    "payout_retry": {(200, None), (409, "invalid_state"), IN_USE},
    "transactions_read": {(200, None)},
}
# The second sending of a keyed request answers like the first one, or 409 while it runs.
for _op in list(EXPECTED):
    EXPECTED[f"{_op}+again"] = EXPECTED[_op]

# Which created object a 2xx response is about, per operation, for the exactly-once checks.
CREATES = {"repay_amount": "repayment", "repay_ids": "repayment", "refund_create": "refund",
           "plan_create": "plan", "repay_reverse": "reversal"}


@dataclass
class World:
    """What the threads know: keys, users, plans, installments and refunds (grown as they are created)."""

    today: date
    client_key: str
    operator_key: str
    merchant_keys: dict[str, str]  # merchant id -> raw key
    users: list[str]
    plan_merchant: dict[str, str] = field(default_factory=dict)  # plan id -> merchant id
    plan_user: dict[str, str] = field(default_factory=dict)
    user_installments: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    refunds: list[tuple[str, str]] = field(default_factory=list)  # (refund id, merchant id)
    repayments: list[str] = field(default_factory=list)
    payouts: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, value: str) -> None:
        with self.lock:
            items = getattr(self, name)
            if value not in items:
                items.append(value)

    def add_plan(self, body: dict) -> None:
        with self.lock:
            if body["id"] in self.plan_user:
                return
            self.plan_merchant[body["id"]] = body["merchant_id"]
            self.plan_user[body["id"]] = body["user_id"]
            self.user_installments[body["user_id"]].extend(i["id"] for i in body["installments"])

    def add_refund(self, body: dict) -> None:
        with self.lock:
            if (body["id"], body["merchant_id"]) not in self.refunds:
                self.refunds.append((body["id"], body["merchant_id"]))


@dataclass
class Outcome:
    op: str
    status: int
    code: str | None
    key: str | None = None
    replayed: bool = False
    body: Any = None  # the JSON of a 2xx answer


@dataclass
class Report:
    seconds: float
    threads: int
    outcomes: list[Outcome]
    sweeps: Counter
    errors: list[str]
    deadlocks: int
    unexpected: Counter

    @property
    def counts(self) -> Counter:
        return Counter((o.op.removesuffix("+again"), o.status, o.code) for o in self.outcomes)

    def server_errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status >= 500]

    def table(self) -> str:
        lines = ["| operation | status | code | count |", "| --- | --- | --- | --- |"]
        for (op, status, code), n in sorted(self.counts.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")):
            lines.append(f"| {op} | {status} | {code or ''} | {n} |")
        for name, n in sorted(self.sweeps.items()):
            lines.append(f"| sweep (service) | {name} | | {n} |")
        return "\n".join(lines)


def _money(rng: random.Random, low: int, high: int) -> str:
    return format_minor(rng.randint(to_minor(low), to_minor(high)))


def seed(*, users: int = 4, today: date | None = None) -> World:
    """Two merchants, ``users`` users with two plans each; the first three users each have one plan
    back-dated 75 days (two installments past due), the rest only current plans."""
    today = today or dates.business_today()
    merchants = [merchant_create(name=f"Race merchant {n}") for n in range(2)]
    _, client_key = api_key_create(role=Role.CLIENT, name="race client")
    _, operator_key = api_key_create(role=Role.OPERATOR, name="race operator")
    merchant_keys = {str(m.pk): api_key_create(role=Role.MERCHANT, name=f"race {m.name}", merchant=m)[1]
                     for m in merchants}
    stamp = uuid.uuid4().int % 10_000_000
    customers = [user_create(full_name=f"Race user {n}", phone_number=f"+99893{(stamp + n) % 10_000_000:07d}",
                             passport_number=f"RC{(stamp + n) % 10_000_000:07d}",
                             date_of_birth=date(1990, 1, 1)) for n in range(users)]
    world = World(today=today, client_key=client_key, operator_key=operator_key, merchant_keys=merchant_keys,
                  users=[str(c.pk) for c in customers])
    for n, customer in enumerate(customers):
        # The current plan first: a back-dated one makes the user DEBT_USER at once.
        starts = [today, today - timedelta(days=75) if n < 3 else today - timedelta(days=10)]
        for k, start in enumerate(starts):
            plan = plan_create(user=customer, merchant=merchants[(n + k) % 2], total_amount=120_000,
                               installment_count=4, start_date=start, bound_backdating=False).plan
            assert plan is not None  # not refused: the user owes nothing overdue before its plans exist
            world.add_plan({"id": str(plan.pk), "merchant_id": str(plan.merchant_id), "user_id": str(customer.pk),
                            "installments": [{"id": str(i.pk)} for i in plan.installments.all()]})
    return world


class _Worker:
    """One thread: its own APIClients (so its own connection), its own random stream."""

    def __init__(self, world: World, index: int, seed: int, deadline: float, shared: "_Shared"):
        self.world, self.index, self.deadline, self.shared = world, index, deadline, shared
        self.rng = random.Random(seed * 1000 + index)
        self.clients: dict[str, APIClient] = {}
        self.outcomes: list[Outcome] = []

    def client(self, raw_key: str) -> APIClient:
        if raw_key not in self.clients:
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
            self.clients[raw_key] = api
        return self.clients[raw_key]

    def send(self, op: str, raw_key: str, method: str, path: str, body: dict | None = None,
             key: str | None = None) -> Outcome:
        headers: dict[str, Any] = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        api = self.client(raw_key)
        try:
            if method == "GET":
                response = api.get(path, **headers)
            else:
                response = api.post(path, json.dumps(body), content_type="application/json", **headers)
        except Exception:  # noqa: BLE001 - an unhandled exception in a view is a 500, kept with its trace
            self.shared.error(f"{op} {method} {path}: {traceback.format_exc()}")
            outcome = Outcome(op, 599, "unhandled_exception", key)
            self.outcomes.append(outcome)
            return outcome
        data: Any = json.loads(response.content) if response.content else None
        code = data.get("code") if response.status_code >= 400 and isinstance(data, dict) else None
        if response.status_code >= 400 and not response["Content-Type"].startswith("application/problem+json"):
            self.shared.error(f"{op}: {response.status_code} is not problem+json ({response['Content-Type']})")
        outcome = Outcome(op, response.status_code, code, key, response.get("Idempotent-Replayed") == "true",
                          data if response.status_code < 300 else None)
        self.outcomes.append(outcome)
        # A merchant's plan is a checkout (API.md §12): nothing to repay or refund until confirmed.
        if response.status_code in (200, 201) and op == "plan_create" and data["status"] == "ACTIVE":
            self.world.add_plan(data)
        if response.status_code in (200, 201) and op == "refund_create":
            self.world.add_refund(data)
        if response.status_code == 201 and op.removesuffix("+again") in ("repay_amount", "repay_ids"):
            self.world.add("repayments", data["id"])
        if response.status_code == 200 and op.removesuffix("+again") == "refund_approve" and data.get("payout_id"):
            self.world.add("payouts", data["payout_id"])
        return outcome

    # --- requests: (op, raw key, method, path, body) ---------------------------------

    def pick_request(self) -> tuple[str, str, str, str, dict | None]:
        w, rng = self.world, self.rng
        user = rng.choice(w.users)
        with w.lock:
            plans = list(w.plan_user)
            refunds = list(w.refunds)
            installments = list(w.user_installments[user])
            repayments, payouts = list(w.repayments), list(w.payouts)
        roll = rng.random()
        body: dict[str, Any]
        # The ledger's operator actions, a tenth of the traffic: reversals, payout actions, journal reads.
        if roll < 0.10:
            pick = rng.random()
            if pick < 0.3 and repayments:
                repayment = rng.choice(repayments)
                return ("repay_reverse", w.operator_key, "POST", f"/api/v1/repayments/{repayment}/reverse/",
                        {"reason": "race chargeback"})
            if pick < 0.8 and payouts:
                action = rng.choice(("mark-sent", "mark-sent", "mark-settled", "mark-failed", "retry"))
                body = {"mark-sent": {"reference": f"race-{rng.randrange(1000)}"},
                        "mark-failed": {"reason": "race bounce"}}.get(action, {})
                return (f"payout_{action.replace('-', '_')}", w.operator_key, "POST",
                        f"/api/v1/payouts/{rng.choice(payouts)}/{action}/", body)
            raw = rng.choice((w.client_key, w.operator_key))
            return "transactions_read", raw, "GET", f"/api/v1/plans/{rng.choice(plans)}/transactions/", None
        roll = rng.random()  # the usual mix below, unchanged
        if roll < 0.18:
            return "repay_amount", w.client_key, "POST", f"/api/v1/debt/{user}/", {"amount": _money(rng, 1, 400)}
        if roll < 0.32:
            ids = rng.sample(installments, k=min(len(installments), rng.choice((1, 1, 2))))
            return "repay_ids", w.client_key, "POST", f"/api/v1/debt/{user}/", {"installment_ids": ids}
        if roll < 0.52:
            plan = rng.choice(plans)
            merchant = w.plan_merchant[plan]
            raw = rng.choice((w.client_key, w.merchant_keys[merchant]))
            # A small pool of transaction ids per merchant, so the natural idempotency is raced too.
            body = {"plan_id": plan, "transaction_id": f"txn-{rng.randrange(60)}", "amount": _money(rng, 5, 250)}
            return "refund_create", raw, "POST", "/api/v1/refunds/", body
        if roll < 0.72 and refunds:
            refund, merchant = rng.choice(refunds)
            op = rng.choice(("refund_approve", "refund_approve", "refund_reject", "refund_cancel"))
            if op == "refund_cancel":
                raw = rng.choice((w.client_key, w.operator_key))
            else:
                raw = rng.choice((w.merchant_keys[merchant], w.operator_key))
            body = {} if op == "refund_approve" else {"reason": "race"}
            return op, raw, "POST", f"/api/v1/refunds/{refund}/{op.removeprefix('refund_')}/", body
        if roll < 0.84:
            merchant = rng.choice(list(w.merchant_keys))
            raw = rng.choice((w.client_key, w.merchant_keys[merchant]))
            body = {"user_id": user, "merchant_id": merchant, "total_amount": _money(rng, 100, 900),
                    "installment_count": rng.randint(3, 6)}
            if raw == w.client_key:  # now and then back-dated as far as a client's plan may be (v1.1)
                start = w.today - timedelta(days=settings.BNPL_MAX_BACKDATE_DAYS) if rng.random() < 0.3 else w.today
                body["start_date"] = start.isoformat()
            return "plan_create", raw, "POST", "/api/v1/plans/", body
        if roll < 0.92:
            return "debt_read", w.client_key, "GET", f"/api/v1/debt/{user}/", None
        return "plan_read", w.client_key, "GET", f"/api/v1/plans/{rng.choice(plans)}/", None

    def run(self) -> None:
        try:
            while time.monotonic() < self.deadline:
                again = self.shared.take_again()
                if again is not None:
                    op, raw, method, path, body, key = again
                    self.send(f"{op}+again", raw, method, path, body, key)
                    continue
                op, raw, method, path, body = self.pick_request()
                if method == "POST" and self.rng.random() < 0.3:
                    key = f"race-{uuid.uuid4()}"
                    # Offered to another thread first, so both send it at about the same moment.
                    self.shared.offer_again((op, raw, method, path, body, key))
                    self.send(op, raw, method, path, body, key)
                    if self.rng.random() < 0.5:  # and once more by this thread: usually a replay
                        self.send(f"{op}+again", raw, method, path, body, key)
                    if self.rng.random() < 0.4:
                        self.send("key_misuse", raw, method, path, {**(body or {}), "misuse": self.index}, key)
                else:
                    self.send(op, raw, method, path, body)
        finally:
            connection.close()


class _Shared:
    def __init__(self):
        self.lock = threading.Lock()
        self.again: list = []
        self.errors: list[str] = []

    def offer_again(self, request) -> None:
        with self.lock:
            self.again.append(request)

    def take_again(self):
        with self.lock:
            return self.again.pop() if self.again else None

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


def _deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def _sweeper(deadline: float, sweeps: Counter, shared: _Shared) -> None:
    try:
        while time.monotonic() < deadline:
            try:
                result = sweep_overdue()
                sweeps["skipped" if result["skipped"] else "ran"] += 1
            except Exception:  # noqa: BLE001 - reported as a failure
                sweeps["error"] += 1
                shared.error(f"sweep: {traceback.format_exc()}")
            time.sleep(0.02)
    finally:
        connection.close()


def run(world: World, *, seconds: float, threads: int, sweepers: int = 2, seed: int = 1) -> Report:
    """Run ``threads`` API workers and ``sweepers`` sweep threads for ``seconds``; then one final sweep."""
    deadlocks_before = _deadlocks()
    deadline = time.monotonic() + seconds
    shared, sweeps = _Shared(), Counter[str]()
    workers = [_Worker(world, i, seed, deadline, shared) for i in range(threads)]
    pool = [threading.Thread(target=w.run, name=f"race-{i}") for i, w in enumerate(workers)]
    pool += [threading.Thread(target=_sweeper, args=(deadline, sweeps, shared), name=f"sweeper-{i}")
             for i in range(sweepers)]
    started = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=seconds + 120)
    hung = [thread.name for thread in pool if thread.is_alive()]
    if hung:
        shared.error(f"threads still running (deadlock?): {hung}")
    elapsed = time.monotonic() - started
    # Nothing runs any more: one sweep now brings every user to the rule.
    sweep_overdue()
    outcomes = [o for w in workers for o in w.outcomes]
    unexpected = Counter((o.op, o.status, o.code) for o in outcomes if (o.status, o.code) not in EXPECTED[o.op])
    return Report(seconds=elapsed, threads=threads, outcomes=outcomes, sweeps=sweeps, errors=shared.errors,
                  deadlocks=_deadlocks() - deadlocks_before, unexpected=unexpected)


# --- the invariants ------------------------------------------------------------------


def check_invariants(report: Report, *, seeded_plans: int) -> list[str]:
    """Every rule the data must satisfy after the run; returns the violations (empty: all hold)."""
    bad: list[str] = []
    today = dates.business_today()
    cutoff = dates.overdue_cutoff(today)
    # A reversed repayment's allocations were taken back (API.md §11).
    allocated = {row["installment_id"]: row["total"] for row in
                 RepaymentAllocation.objects.filter(repayment__reversed_at__isnull=True)
                 .values("installment_id").annotate(total=Sum("amount"))}

    installments_by_plan = defaultdict(list)
    for inst in Installment.objects.all():
        installments_by_plan[inst.plan_id].append(inst)
        outstanding = inst.amount - inst.paid_amount - inst.refunded_amount
        if inst.paid_amount < 0 or inst.refunded_amount < 0 or outstanding < 0:
            bad.append(f"installment {inst.pk}: paid {inst.paid_amount} + refunded {inst.refunded_amount} "
                       f"above amount {inst.amount}")
        if outstanding > 0:
            expected_status = {InstallmentStatus.UPCOMING, InstallmentStatus.OVERDUE}
        elif inst.paid_amount > 0:
            expected_status = {InstallmentStatus.PAID}
        else:
            expected_status = {InstallmentStatus.CANCELLED}
        if inst.status not in expected_status:
            bad.append(f"installment {inst.pk}: status {inst.status} with outstanding {outstanding}, "
                       f"paid {inst.paid_amount}")
        # The overdue rule itself (plans.overdue): past due, and no pending return pausing the plan.
        overdue_by_rule = outstanding > 0 and past_due(inst, cutoff=cutoff, today=today)
        if overdue_by_rule and inst.status != InstallmentStatus.OVERDUE:
            bad.append(f"installment {inst.pk}: past due ({inst.due_date}), not paused, but {inst.status} "
                       "after the final sweep")
        if outstanding > 0 and not overdue_by_rule and inst.status != InstallmentStatus.UPCOMING:
            bad.append(f"installment {inst.pk}: not overdue by the rule (due {inst.due_date}, paused until "
                       f"{inst.collection_paused_until}) but {inst.status}")
        if allocated.get(inst.pk, 0) != inst.paid_amount:
            bad.append(f"installment {inst.pk}: paid {inst.paid_amount} but allocations sum to "
                       f"{allocated.get(inst.pk, 0)}")

    refunds_by_plan = defaultdict(list)
    for refund in Refund.objects.all():
        refunds_by_plan[refund.plan_id].append(refund)
        if refund.status == RefundStatus.APPROVED:
            if refund.applied_amount is None or refund.applied_amount + refund.payout_amount != refund.amount:
                bad.append(f"refund {refund.pk}: applied {refund.applied_amount} + payout {refund.payout_amount} "
                           f"!= amount {refund.amount}")
        elif refund.applied_amount is not None or refund.payout_amount is not None:
            bad.append(f"refund {refund.pk}: {refund.status} with applied/payout amounts")
        if (refund.status == RefundStatus.PENDING) != (refund.decided_at is None):
            bad.append(f"refund {refund.pk}: {refund.status} but decided_at {refund.decided_at}")

    for plan in Plan.objects.all():
        rows = installments_by_plan[plan.pk]
        paid = sum(i.paid_amount for i in rows)
        refunded = sum(i.refunded_amount for i in rows)
        if plan.status in CHECKOUT_STATUSES:  # a checkout owes nothing: no installment at all
            if rows or plan.paid_amount or plan.refunded_amount or refunds_by_plan[plan.pk]:
                bad.append(f"plan {plan.pk}: {plan.status} with installments, refunds or money on it")
            continue
        if sum(i.amount for i in rows) != plan.total_amount:
            bad.append(f"plan {plan.pk}: installments do not sum to the total")
        if (plan.paid_amount, plan.refunded_amount) != (paid, refunded):
            bad.append(f"plan {plan.pk}: paid/refunded {plan.paid_amount}/{plan.refunded_amount}, "
                       f"installments say {paid}/{refunded}")
        outstanding = plan.total_amount - plan.paid_amount - plan.refunded_amount
        if (plan.status == PlanStatus.COMPLETED) != (outstanding == 0):
            bad.append(f"plan {plan.pk}: {plan.status} with outstanding {outstanding}")
        refunds = refunds_by_plan[plan.pk]
        reserved = sum((r.amount for r in refunds if r.status in (RefundStatus.PENDING, RefundStatus.APPROVED)),
                       0)
        if reserved > plan.total_amount:
            bad.append(f"plan {plan.pk}: pending+approved refunds {reserved} above the total {plan.total_amount}")
        applied = sum(r.applied_amount for r in refunds if r.status == RefundStatus.APPROVED)
        if applied != refunded:
            bad.append(f"plan {plan.pk}: approved refunds applied {applied}, installments refunded {refunded}")

    for repayment in Repayment.objects.annotate(allocated=Sum("allocations__amount")):
        if repayment.allocated != repayment.amount:
            bad.append(f"repayment {repayment.pk}: amount {repayment.amount}, allocations {repayment.allocated}")

    overdue_users = set(Installment.objects.filter(status=InstallmentStatus.OVERDUE)
                        .values_list("user_id", flat=True))
    for user in Customer.objects.all():
        expected = UserStatus.DEBT_USER if user.pk in overdue_users else UserStatus.NORMAL
        if user.status != expected:
            bad.append(f"user {user.pk}: {user.status} after the final sweep, the installments say {expected}")

    bad += _check_ledger()
    bad += _check_exactly_once(report, seeded_plans=seeded_plans)
    return bad


def _check_ledger() -> list[str]:
    """The journal: every transaction balances and every cache equals it (the reconciliation itself),
    payouts match their refunds and the books, a repayment is reversed at most once."""
    from debt.models import RepaymentReversal
    from ledger.models import JournalEntry, JournalTransaction, Kind, Payout, PayoutStatus
    from ledger.reconcile import reconcile

    result = reconcile()
    bad = [f"ledger: {m}" for m in result["mismatches"]]
    if result["mismatch_count"] != len(result["mismatches"]):
        bad.append(f"ledger: {result['mismatch_count']} mismatches in all")
    payouts = {p.refund_id: p for p in Payout.objects.all()}
    for refund in Refund.objects.all():
        payout = payouts.get(refund.pk)
        wants_payout = refund.status == RefundStatus.APPROVED and refund.payout_amount > 0
        if wants_payout != (payout is not None) or (payout is not None and payout.amount != refund.payout_amount):
            bad.append(f"refund {refund.pk}: {refund.status}, payout_amount {refund.payout_amount}, payout {payout}")
    settled = dict(JournalTransaction.objects.filter(kind=Kind.PAYOUT_SETTLED).values("source_id")
                   .annotate(n=Count("id")).values_list("source_id", "n"))
    for payout in payouts.values():
        if settled.get(payout.pk, 0) != (1 if payout.status == PayoutStatus.SETTLED else 0):
            bad.append(f"payout {payout.pk}: {payout.status} with {settled.get(payout.pk, 0)} payout_settled")
    owed = -(JournalEntry.objects.filter(account="refunds_owed").aggregate(t=Sum("amount"))["t"] or 0)
    unsettled = sum(p.amount for p in payouts.values() if p.status != PayoutStatus.SETTLED)
    if owed != unsettled:
        bad.append(f"refunds_owed {owed} in the journal, unsettled payouts {unsettled}")
    reversals = Counter(RepaymentReversal.objects.values_list("repayment_id", flat=True))
    for repayment in Repayment.objects.all():
        if reversals.get(repayment.pk, 0) != (0 if repayment.reversed_at is None else 1):
            bad.append(f"repayment {repayment.pk}: reversed_at {repayment.reversed_at}, "
                       f"{reversals.get(repayment.pk, 0)} reversals")
    reversed_tx = JournalTransaction.objects.filter(kind=Kind.REPAYMENT_REVERSED).values("source_id").distinct()
    if reversed_tx.count() != len(reversals):
        bad.append(f"{reversed_tx.count()} repayments reversed in the journal, {len(reversals)} reversals")
    return bad


def _check_exactly_once(report: Report, *, seeded_plans: int) -> list[str]:
    """Every Idempotency-Key had one effect, and every created row was answered to exactly one request
    (or to one key and its replays): no hidden second effect anywhere."""
    bad: list[str] = []
    by_key: dict[str, list[Outcome]] = defaultdict(list)
    created: dict[str, set[str]] = defaultdict(set)
    for outcome in report.outcomes:
        if outcome.key:
            by_key[outcome.key].append(outcome)
        kind = CREATES.get(outcome.op.removesuffix("+again"))
        if kind and outcome.status == 201:
            created[kind].add(outcome.body["id"])

    for key, outcomes in by_key.items():
        # 5xx answers are not stored (and fail the run on their own).
        answered = [o for o in outcomes
                    if o.op != "key_misuse" and (o.status, o.code) != IN_USE and o.status < 500]
        firsts = [o for o in answered if not o.replayed]
        if len(firsts) > 1:
            bad.append(f"key {key}: handled {len(firsts)} times (not replayed)")
        if len({(o.status, o.code, json.dumps(o.body, sort_keys=True)) for o in answered}) > 1:
            bad.append(f"key {key}: answers differ {[(o.status, o.code, o.body) for o in answered]}")
        kind = CREATES.get(outcomes[0].op.removesuffix("+again"))
        ids = {o.body["id"] for o in answered if o.status == 201}
        if kind and len(ids) > 1:
            bad.append(f"key {key}: {len(ids)} {kind}s created")
        stored = IdempotencyRecord.objects.filter(key=key).count()
        if answered and stored != 1:
            bad.append(f"key {key}: {stored} stored responses")

    from debt.models import RepaymentReversal

    counts = {"repayment": Repayment.objects.count(), "refund": Refund.objects.count(),
              "plan": Plan.objects.count() - seeded_plans, "reversal": RepaymentReversal.objects.count()}
    for kind, count in counts.items():
        if count != len(created[kind]):
            bad.append(f"{count} {kind}s in the database, {len(created[kind])} answered 201")
    return bad
