"""Late fees (API.md §13): assessed by the sweep once per step, within the cap, paid in the
allocation order, waived by operators, reversed with the repayment, and always equal to the journal."""
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from audit.models import AuditEvent
from bnpl.settings.env import env_late_fees
from debt.reversals import repayment_reverse
from debt.services import repayment_apply, sweep_overdue
from events.models import Event
from ledger.models import JournalEntry, JournalTransaction, Kind
from ledger.reconcile import reconcile
from plans import installments as installment_rules
from plans.models import Installment, InstallmentStatus, LateFee, Plan
from plans.tests.factories import make_plan, minor
from users.models import Customer, UserStatus
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.money]

START = date(2025, 1, 31)  # dues 2025-02-28, 03-31, 04-30
STEPS = ((1, Decimal("10000.00")), (8, Decimal("7000.00")))


@pytest.fixture
def fees_on(settings, business_day):
    settings.BNPL_LATE_FEES = STEPS
    settings.BNPL_LATE_FEE_CAP_PERCENT = 25
    business_day(START)


def sweep_on(business_day, day: date) -> dict:
    business_day(day)
    return sweep_overdue(today=day)


def first(plan: Plan) -> Installment:
    return plan.installments.get(sequence=1)


def assert_books_agree() -> None:
    result = reconcile()
    assert result["mismatch_count"] == 0, result["mismatches"]


def test_a_fee_step_is_assessed_exactly_once_across_three_sweeps(fees_on, business_day):
    plan = make_plan(total_amount="1200000.00", start_date=START)
    assert sweep_on(business_day, date(2025, 3, 1))["fees_assessed"] == 1   # 1 day past due: step 1
    assert sweep_on(business_day, date(2025, 3, 1))["fees_assessed"] == 0   # the same day again
    assert sweep_on(business_day, date(2025, 3, 8))["fees_assessed"] == 1   # 8 days: step 8
    assert sweep_on(business_day, date(2025, 3, 9))["fees_assessed"] == 0
    installment = first(plan)
    assert sorted(LateFee.objects.values_list("step_days", "amount")) == [(1, minor("10000.00")),
                                                                          (8, minor("7000.00"))]
    assert (installment.fee_amount, installment.status) == (minor("17000.00"), InstallmentStatus.OVERDUE)
    assert installment.outstanding_amount == minor("417000.00")
    plan.refresh_from_db()
    assert plan.fee_amount == minor("17000.00") and plan.outstanding_amount == minor("1217000.00")
    assert JournalTransaction.objects.filter(kind=Kind.FEE_ASSESSED).count() == 2
    assert Event.objects.filter(type="fee.assessed").count() == 2
    data = Event.objects.filter(type="fee.assessed").order_by("created_at").first().data
    assert data["installment_id"] == str(installment.pk) and data["currency"] == "UZS"
    assert data["amount"] in ("10000.00", "7000.00") and data["installment"]["fee_amount"] in ("10000.00", "17000.00")
    assert_books_agree()


def test_a_late_first_sweep_assesses_every_step_reached_once(fees_on, business_day):
    plan = make_plan(total_amount="1200000.00", start_date=START)
    assert sweep_on(business_day, date(2025, 3, 20))["fees_assessed"] == 2
    assert first(plan).fee_amount == minor("17000.00")
    assert sweep_on(business_day, date(2025, 3, 21))["fees_assessed"] == 0
    assert_books_agree()


def test_the_cap_binds_a_step_is_cut_to_what_is_left(fees_on, business_day):
    # 60,000.00 at 25 %: at most 15,000.00 of fees on the plan. Installments 1 and 2 both reach both
    # steps; in due-date order installment 1 takes 10,000.00 then 5,000.00 (cut), and 2 nothing.
    plan = make_plan(total_amount="60000.00", start_date=START)
    assert sweep_on(business_day, date(2025, 4, 10))["fees_assessed"] == 2
    one, two = plan.installments.order_by("sequence")[:2]
    assert (one.fee_amount, two.fee_amount) == (minor("15000.00"), 0)
    assert sorted(LateFee.objects.values_list("step_days", "amount")) == [(1, minor("10000.00")),
                                                                          (8, minor("5000.00"))]
    assert sweep_on(business_day, date(2025, 5, 20))["fees_assessed"] == 0  # installment 3 too: nothing left
    plan.refresh_from_db()
    assert plan.fee_amount == minor("15000.00") == plan.total_amount * 25 // 100
    assert_books_agree()


def test_allocation_order_principal_then_fees_then_upcoming_exact_to_the_cent(fees_on, business_day):
    user = CustomerFactory()
    plan = make_plan(user=user, total_amount="1200000.00", start_date=START)
    sweep_on(business_day, date(2025, 4, 10))  # installments 1 and 2 overdue, 17,000.00 of fees each
    one, two, three = plan.installments.order_by("sequence")
    assert (one.fee_amount, two.fee_amount) == (minor("17000.00"), minor("17000.00"))
    # Both principals (800,000.00), then 17,000.00 + 0.01 of fees oldest first; nothing on installment 3.
    result = repayment_apply(user=user, amount=minor("817000.01"))
    parts = {a.installment_id: (a.amount, a.fee_amount) for a in result.allocations}
    assert parts == {one.pk: (minor("417000.00"), minor("17000.00")),
                     two.pk: (minor("400000.01"), minor("0.01"))}
    one.refresh_from_db(), two.refresh_from_db(), three.refresh_from_db()
    assert (one.status, one.outstanding_amount) == (InstallmentStatus.PAID, 0)
    assert (two.status, two.outstanding_amount, two.fee_paid_amount) == (InstallmentStatus.OVERDUE,
                                                                         minor("16999.99"), minor("0.01"))
    assert three.paid_amount == 0
    # The rest of the fee, then upcoming principal.
    result = repayment_apply(user=user, amount=minor("17000.00"))
    assert [(a.installment_id, a.amount, a.fee_amount) for a in result.allocations] == [
        (two.pk, minor("16999.99"), minor("16999.99")), (three.pk, minor("0.01"), 0)]
    assert result.user_status == UserStatus.NORMAL
    lines = JournalEntry.objects.filter(kind=Kind.REPAYMENT, account="fee_receivable")
    assert -sum(lines.values_list("amount", flat=True)) == minor("34000.00")
    assert_books_agree()


def test_repayment_by_ids_pays_principal_and_fees(fees_on, business_day):
    user = CustomerFactory()
    plan = make_plan(user=user, total_amount="1200000.00", start_date=START)
    sweep_on(business_day, date(2025, 3, 10))
    result = repayment_apply(user=user, installment_ids=[first(plan).pk])
    assert [(a.amount, a.fee_amount) for a in result.allocations] == [(minor("417000.00"), minor("17000.00"))]
    assert first(plan).status == InstallmentStatus.PAID and result.user_status == UserStatus.NORMAL
    assert_books_agree()


def test_refunds_reduce_principal_only(fees_on, business_day):
    from refunds.services import refund_approve, refund_create
    user = CustomerFactory()
    plan = make_plan(user=user, total_amount="1200000.00", start_date=START)
    sweep_on(business_day, date(2025, 3, 10))
    refund, _ = refund_create(plan=plan, transaction_id="t-1", amount=minor("1200000.00"), reason="")
    refund_approve(refund=refund, decided_by="test")
    one = first(plan)
    assert (one.refunded_amount, one.fee_amount, one.outstanding_amount) == (one.amount, minor("17000.00"),
                                                                             minor("17000.00"))
    assert one.status == InstallmentStatus.OVERDUE  # the fee is still owed
    assert_books_agree()


def test_reversal_of_a_repayment_that_paid_fees_puts_them_back(fees_on, business_day):
    user = CustomerFactory()
    plan = make_plan(user=user, total_amount="1200000.00", start_date=START)
    sweep_on(business_day, date(2025, 3, 10))
    paid = repayment_apply(user=user, amount=minor("417000.00"))
    assert first(plan).status == InstallmentStatus.PAID
    repayment_reverse(repayment=paid.repayment, reason="chargeback")
    one = first(plan)
    assert (one.paid_amount, one.fee_paid_amount, one.fee_amount) == (0, 0, minor("17000.00"))
    assert (one.status, one.outstanding_amount) == (InstallmentStatus.OVERDUE, minor("417000.00"))
    assert Customer.objects.get(pk=user.pk).status == UserStatus.DEBT_USER
    assert JournalEntry.objects.filter(kind=Kind.REPAYMENT_REVERSED, account="fee_receivable").get().amount == \
        minor("17000.00")
    assert_books_agree()


def waive_url(installment) -> str:
    return f"/api/v1/installments/{installment.pk}/waive-fees/"


def test_waiver_settles_the_installment_and_frees_the_user(fees_on, business_day, operator_api):
    user = CustomerFactory()
    plan = make_plan(user=user, total_amount="1200000.00", start_date=START)
    sweep_on(business_day, date(2025, 3, 10))
    repayment_apply(user=user, amount=minor("400000.00"))  # the principal only: the fees keep it OVERDUE
    assert first(plan).status == InstallmentStatus.OVERDUE
    assert Customer.objects.get(pk=user.pk).status == UserStatus.DEBT_USER
    r = operator_api.post(waive_url(first(plan)), {"reason": "goodwill"}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["amount"], body["user_status"], body["reason"]) == ("17000.00", "NORMAL", "goodwill")
    assert body["installment"]["status"] == "PAID" and body["installment"]["fee_waived_amount"] == "17000.00"
    one = first(plan)
    assert (one.status, one.fee_waived_amount, one.outstanding_amount) == (InstallmentStatus.PAID,
                                                                           minor("17000.00"), 0)
    assert Customer.objects.get(pk=user.pk).status == UserStatus.NORMAL
    tx = JournalTransaction.objects.get(kind=Kind.FEE_WAIVED)
    assert tx.amount == minor("17000.00")
    assert AuditEvent.objects.filter(object_id=one.pk, field="fee_waived_amount", new="17000.00").exists()
    # Nothing left to waive: 409.
    r = operator_api.post(waive_url(one), {"reason": "again"}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    assert_books_agree()


def test_waiver_is_for_operators_with_a_reason(fees_on, business_day, client_api, operator_api):
    plan = make_plan(total_amount="1200000.00", start_date=START)
    sweep_on(business_day, date(2025, 3, 10))
    r = client_api.post(waive_url(first(plan)), {"reason": "please"}, format="json")
    assert r.status_code == 403
    for body in ({}, {"reason": ""}, {"reason": "x" * 501}):
        r = operator_api.post(waive_url(first(plan)), body, format="json")
        assert r.status_code == 400, body
    assert first(plan).fee_waived_amount == 0 and not JournalTransaction.objects.filter(kind=Kind.FEE_WAIVED).exists()
    assert operator_api.post("/api/v1/installments/00000000-0000-0000-0000-000000000000/waive-fees/",
                             {"reason": "x"}, format="json").status_code == 404


def test_waiver_without_an_outstanding_fee_is_409(settings, business_day, operator_api):
    business_day(START)
    plan = make_plan(start_date=START)
    r = operator_api.post(waive_url(first(plan)), {"reason": "nothing to waive"}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"


def test_debt_response_counts_fees(fees_on, business_day, client_api):
    user = CustomerFactory()
    make_plan(user=user, total_amount="1200000.00", start_date=START)
    sweep_on(business_day, date(2025, 3, 10))
    body = client_api.get(f"/api/v1/debt/{user.pk}/").json()
    assert (body["fees_outstanding"], body["overdue_amount"], body["outstanding_amount"]) == (
        "17000.00", "417000.00", "1217000.00")
    assert body["overdue_installments"][0]["outstanding_amount"] == "417000.00"


def test_fees_off_by_default_assess_nothing(business_day):
    business_day(START)
    make_plan(total_amount="1200000.00", start_date=START)
    result = sweep_on(business_day, date(2025, 4, 10))
    assert "fees_assessed" not in result and not LateFee.objects.exists()
    assert installment_rules.fees_sweep(today=date(2025, 4, 10), cutoff=date(2025, 4, 10), chunk_size=10) == {}


@pytest.mark.parametrize("raw", ["1", "0:10", "1:0", "1:-5", "a:10", "1:10,1:20", "1:abc", "1:10;8:7", "1:NaN"])
def test_malformed_late_fees_refuse_to_start(monkeypatch, raw):
    monkeypatch.setenv("BNPL_LATE_FEES", raw)
    with pytest.raises(ImproperlyConfigured, match="BNPL_LATE_FEES"):
        env_late_fees("BNPL_LATE_FEES")


def test_late_fee_steps_parse(monkeypatch):
    monkeypatch.setenv("BNPL_LATE_FEES", " 8:7000.00, 1:10000.00 ")
    assert env_late_fees("BNPL_LATE_FEES") == ((1, Decimal("10000.00")), (8, Decimal("7000.00")))
    monkeypatch.setenv("BNPL_LATE_FEES", "")
    assert env_late_fees("BNPL_LATE_FEES") == ()
