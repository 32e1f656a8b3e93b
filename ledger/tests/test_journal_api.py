"""The journal over HTTP: every money movement recorded, the transactions endpoints, refund
allocations and payout ids, repayment reversals and ``?as_of=``."""
from datetime import date, timedelta

import pytest

from audit.models import AuditEvent
from debt.models import Repayment
from ledger.models import JournalTransaction, Kind, Payout
from ledger.reconcile import reconcile
from merchants.tests.factories import MerchantFactory
from plans.models import Installment, Plan
from plans.tests.factories import make_plan

pytestmark = [pytest.mark.django_db, pytest.mark.money]

TX_FIELDS = {"id", "kind", "plan_id", "user_id", "amount", "currency", "business_date", "created_at", "source",
             "installments", "outstanding_after"}


def _pages(api, url):
    out = []
    while url:
        page = api.get(url).json()
        out += page["results"]
        url = page["next"]
    return out


def _repay(api, user_id, **body):
    r = api.post(f"/api/v1/debt/{user_id}/", body)
    assert r.status_code == 201, r.content
    return r.json()


def _refund(api, plan, amount, txn):
    r = api.post("/api/v1/refunds/", {"plan_id": str(plan.pk), "transaction_id": txn, "amount": amount})
    assert r.status_code == 201, r.content
    return r.json()


@pytest.fixture
def plan(merchant):
    return make_plan(merchant=merchant, total_amount="900.00")


def test_every_money_movement_is_in_the_plan_journal_oldest_first(client_api, operator_api, plan):
    ids = [str(i.pk) for i in plan.installments.order_by("sequence")]
    repayment = _repay(client_api, plan.user_id, amount="350.00")           # 300 on #1, 50 on #2
    refund = _refund(client_api, plan, "600.00", "r-1")                     # 300 off #3, 250 off #2, 50 payout
    approved = operator_api.post(f"/api/v1/refunds/{refund['id']}/approve/").json()
    assert (approved["applied_amount"], approved["payout_amount"]) == ("550.00", "50.00")
    payout = Payout.objects.get()
    assert approved["payout_id"] == str(payout.pk)
    assert approved["allocations"] == [{"installment_id": ids[2], "amount": "300.00"},
                                       {"installment_id": ids[1], "amount": "250.00"}]
    operator_api.post(f"/api/v1/payouts/{payout.pk}/mark-sent/", {"reference": "B-1"})
    operator_api.post(f"/api/v1/payouts/{payout.pk}/mark-settled/")

    r = client_api.get(f"/api/v1/plans/{plan.pk}/transactions/")
    assert r.status_code == 200
    rows = r.json()["results"]
    assert all(set(t) == TX_FIELDS for t in rows)
    assert [(t["kind"], t["amount"], t["outstanding_after"]) for t in rows] == [
        ("plan_opened", "900.00", "900.00"), ("repayment", "350.00", "550.00"),
        ("refund_applied", "550.00", "0.00"), ("refund_payout", "50.00", "0.00"),
        ("payout_settled", "50.00", "0.00")]
    assert [t["source"] for t in rows] == [
        {"type": "plan", "id": str(plan.pk)}, {"type": "repayment", "id": repayment["id"]},
        {"type": "refund", "id": refund["id"]}, {"type": "refund", "id": refund["id"]},
        {"type": "payout", "id": str(payout.pk)}]
    assert rows[0]["installments"] == [{"installment_id": i, "amount": "300.00"} for i in ids]
    assert rows[1]["installments"] == [{"installment_id": ids[0], "amount": "300.00"},
                                       {"installment_id": ids[1], "amount": "50.00"}]
    assert rows[3]["installments"] == [] and rows[4]["installments"] == []
    assert all(t["currency"] == "UZS" and t["plan_id"] == str(plan.pk) for t in rows)
    assert reconcile()["mismatch_count"] == 0


def test_pending_refund_has_no_allocations_and_no_payout_id(client_api, plan):
    refund = _refund(client_api, plan, "10.00", "r-2")
    body = client_api.get(f"/api/v1/refunds/{refund['id']}/").json()
    assert body["allocations"] == [] and body["payout_id"] is None
    listed = client_api.get("/api/v1/refunds/").json()["results"]
    assert listed[0]["allocations"] == [] and listed[0]["payout_id"] is None


def test_user_transactions_newest_first_with_filters(client_api, plan):
    other = make_plan(user=plan.user, merchant=MerchantFactory(), total_amount="300.00")
    _repay(client_api, plan.user_id, amount="400.00")  # oldest due first: spans both plans
    rows = _pages(client_api, f"/api/v1/users/{plan.user_id}/transactions/?limit=2")
    assert [t["kind"] for t in rows] == ["repayment", "repayment", "plan_opened", "plan_opened"]
    stamps = [(t["created_at"], t["id"]) for t in rows]
    assert stamps == sorted(stamps, reverse=True)
    repayments = [t for t in rows if t["kind"] == "repayment"]
    assert {t["plan_id"] for t in repayments} == {str(plan.pk), str(other.pk)}
    assert len({t["source"]["id"] for t in repayments}) == 1  # one repayment, one transaction per plan
    only = client_api.get(f"/api/v1/users/{plan.user_id}/transactions/?kind=plan_opened&plan_id={other.pk}")
    assert [(t["kind"], t["plan_id"]) for t in only.json()["results"]] == [("plan_opened", str(other.pk))]
    for bad in ("kind=gift", "plan_id=nope"):
        r = client_api.get(f"/api/v1/users/{plan.user_id}/transactions/?{bad}")
        assert r.status_code == 400 and r.json()["code"] == "validation_error"


@pytest.mark.parametrize(("role", "own", "plan_status", "user_status"), [
    ("client", True, 200, 200), ("operator", True, 200, 200),
    ("merchant", True, 200, 403), ("merchant", False, 404, 403),
])
def test_transactions_roles_and_reach(make_api, merchant, plan, role, own, plan_status, user_status):
    target = plan if own else make_plan(merchant=MerchantFactory())
    api = make_api(role, merchant=merchant if role == "merchant" else None)
    assert api.get(f"/api/v1/plans/{target.pk}/transactions/").status_code == plan_status
    assert api.get(f"/api/v1/users/{target.user_id}/transactions/").status_code == user_status


def test_unknown_plan_or_user_is_404(client_api):
    for url in ("/api/v1/plans/00000000-0000-0000-0000-000000000000/transactions/",
                "/api/v1/users/00000000-0000-0000-0000-000000000000/transactions/",
                "/api/v1/plans/nope/transactions/"):
        r = client_api.get(url)
        assert r.status_code == 404 and r.json()["code"] == "not_found"


# --- reversals ---------------------------------------------------------------------------


def test_a_reversal_reopens_installments_the_plan_and_the_user(client_api, operator_api, business_day, merchant):
    today = business_day(date(2026, 3, 10))
    plan = make_plan(merchant=merchant, total_amount="300.00", start_date=today - timedelta(days=3))
    business_day(date(2026, 4, 20))  # #1 (due 2026-04-07) is now past due
    ids = [str(i.pk) for i in plan.installments.order_by("sequence")]
    paid = _repay(client_api, plan.user_id, installment_ids=ids)
    assert paid["user_status"] == "NORMAL"
    assert Plan.objects.get(pk=plan.pk).status == "COMPLETED"

    r = operator_api.post(f"/api/v1/repayments/{paid['id']}/reverse/", {"reason": "chargeback"},
                          HTTP_X_REQUEST_ID="rev-1")
    assert r.status_code == 201, r.content
    body = r.json()
    assert set(body) == {"id", "repayment_id", "amount", "currency", "allocations", "user_status", "reason",
                         "created_at"}
    assert (body["repayment_id"], body["amount"], body["reason"], body["user_status"]) == \
        (paid["id"], "300.00", "chargeback", "DEBT_USER")
    assert [a["installment_id"] for a in body["allocations"]] == ids
    statuses = dict(Installment.objects.filter(plan=plan).values_list("sequence", "status"))
    assert statuses == {1: "OVERDUE", 2: "UPCOMING", 3: "UPCOMING"}
    assert all(i.paid_at is None and i.paid_amount == 0 for i in Installment.objects.filter(plan=plan))
    assert Plan.objects.get(pk=plan.pk).status == "ACTIVE"
    assert Repayment.objects.get(pk=paid["id"]).reversed_at is not None
    listed = client_api.get(f"/api/v1/debt/{plan.user_id}/repayments/").json()["results"]
    assert listed[0]["reversed_at"] is not None

    reversed_tx = JournalTransaction.objects.get(kind=Kind.REPAYMENT_REVERSED)
    assert (reversed_tx.amount, reversed_tx.outstanding_after, reversed_tx.source_id) == (300_00, 300_00,
                                                                                         Repayment.objects.get().pk)
    assert reconcile()["mismatch_count"] == 0
    history = AuditEvent.objects.filter(request_id="rev-1")
    assert set(history.values_list("object_type", "old", "new")) >= {
        ("plan", "COMPLETED", "ACTIVE"), ("installment", "PAID", "OVERDUE"), ("installment", "PAID", "UPCOMING"),
        ("user", "NORMAL", "DEBT_USER")}
    assert set(history.values_list("actor_name", flat=True)) == {"test operator"}

    again = operator_api.post(f"/api/v1/repayments/{paid['id']}/reverse/", {"reason": "twice"})
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    assert JournalTransaction.objects.filter(kind=Kind.REPAYMENT_REVERSED).count() == 1


def test_reversing_after_a_refund_keeps_the_refund_and_reopens_only_the_rest(client_api, operator_api, plan):
    paid = _repay(client_api, plan.user_id, amount="300.00")             # #1 paid in full
    refund = _refund(client_api, plan, "700.00", "r-3")                  # #3, #2 cancelled, 100 off #1: payout
    operator_api.post(f"/api/v1/refunds/{refund['id']}/approve/")
    r = operator_api.post(f"/api/v1/repayments/{paid['id']}/reverse/", {"reason": "chargeback"})
    assert r.status_code == 201
    first = Installment.objects.get(plan=plan, sequence=1)
    assert (first.paid_amount, first.refunded_amount, first.status) == (0, 0, "UPCOMING")
    assert Plan.objects.get(pk=plan.pk).outstanding_amount == 300_00
    assert Payout.objects.get().amount == 100_00  # the payout stays owed (no replay)
    assert reconcile()["mismatch_count"] == 0


@pytest.mark.parametrize("role", ["client", "merchant"])
def test_only_operators_reverse(make_api, client_api, merchant, plan, role):
    paid = _repay(client_api, plan.user_id, amount="10.00")
    api = make_api(role, merchant=merchant if role == "merchant" else None)
    r = api.post(f"/api/v1/repayments/{paid['id']}/reverse/", {"reason": "x"})
    assert r.status_code == 403
    assert Repayment.objects.get().reversed_at is None


def test_reversal_needs_a_reason_and_an_existing_repayment(operator_api, client_api, plan):
    paid = _repay(client_api, plan.user_id, amount="10.00")
    assert operator_api.post(f"/api/v1/repayments/{paid['id']}/reverse/", {}).status_code == 400
    r = operator_api.post("/api/v1/repayments/00000000-0000-0000-0000-000000000000/reverse/", {"reason": "x"})
    assert r.status_code == 404


# --- as of a business day -------------------------------------------------------------------


def test_as_of_rebuilds_the_plan_and_the_debt_from_the_journal(client_api, operator_api, business_day, merchant):
    start = business_day(date(2026, 1, 10))
    plan = make_plan(merchant=merchant, total_amount="300.00", start_date=start)
    business_day(date(2026, 2, 5))
    _repay(client_api, plan.user_id, amount="50.00")
    business_day(date(2026, 3, 20))  # #1 (due 2026-02-10) is past due
    _repay(client_api, plan.user_id, amount="100.00")

    before = client_api.get(f"/api/v1/plans/{plan.pk}/?as_of=2026-01-09")
    assert before.status_code == 404
    opened = client_api.get(f"/api/v1/plans/{plan.pk}/?as_of=2026-01-10").json()
    assert (opened["paid_amount"], opened["outstanding_amount"], opened["status"]) == ("0.00", "300.00", "ACTIVE")
    feb = client_api.get(f"/api/v1/plans/{plan.pk}/?as_of=2026-02-28").json()
    assert [(i["paid_amount"], i["status"]) for i in feb["installments"]] == [
        ("50.00", "OVERDUE"), ("0.00", "UPCOMING"), ("0.00", "UPCOMING")]
    now = client_api.get(f"/api/v1/plans/{plan.pk}/").json()
    assert now["paid_amount"] == "150.00" and now["installments"][0]["status"] == "PAID"
    same_day = client_api.get(f"/api/v1/plans/{plan.pk}/?as_of=2026-03-20").json()["installments"]
    keys = ("id", "amount", "paid_amount", "refunded_amount", "outstanding_amount", "status")
    assert [{k: i[k] for k in keys} for i in same_day] == [{k: i[k] for k in keys} for i in now["installments"]]

    debt = client_api.get(f"/api/v1/debt/{plan.user_id}/?as_of=2026-02-28").json()
    assert (debt["status"], debt["overdue_amount"], debt["outstanding_amount"]) == ("DEBT_USER", "50.00", "250.00")
    assert debt["overdue_installments"][0]["days_overdue"] == 18
    empty = client_api.get(f"/api/v1/debt/{plan.user_id}/?as_of=2025-12-31").json()
    assert (empty["status"], empty["outstanding_amount"], empty["overdue_installments"], empty["next_due"]) == \
        ("NORMAL", "0.00", [], None)


@pytest.mark.parametrize("value", ["20260131", "2026-1-31", "2026-02-30", "٢٠٢٦-٠١-٣١", "2999-01-01", ""])
def test_a_bad_as_of_is_400(client_api, plan, value):
    for url in (f"/api/v1/plans/{plan.pk}/?as_of={value}", f"/api/v1/debt/{plan.user_id}/?as_of={value}"):
        r = client_api.get(url)
        assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "as_of", (url, r.content)
