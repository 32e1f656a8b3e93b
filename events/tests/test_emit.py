"""The services write their events in their own transaction; the sweep writes them set-based."""
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bnpl.dates import business_today
from debt.services import sweep_overdue
from events.models import Event
from merchants.tests.factories import MerchantFactory
from plans.models import Installment, InstallmentStatus
from plans.tests.factories import make_plan
from users.tests.factories import CustomerFactory


def _past_due(n_users: int, merchant) -> None:
    for _ in range(n_users):
        plan = make_plan(user=CustomerFactory(), merchant=merchant)
        Installment.objects.filter(plan=plan, sequence__in=[1, 2]).update(
            due_date=business_today() - timedelta(days=3))


@pytest.mark.parametrize("n_users", [2, 12])
def test_the_sweep_writes_its_events_set_based(db, n_users):
    merchant = MerchantFactory()
    _past_due(n_users, merchant)
    Event.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        counts = sweep_overdue()
    assert counts["installments_marked_overdue"] == 2 * n_users and counts["users_marked_debt"] == n_users
    overdue = Event.objects.filter(type="installment.overdue")
    assert overdue.count() == 2 * n_users and set(overdue.values_list("merchant_id", flat=True)) == {merchant.pk}
    assert {e.data["status"] for e in overdue} == {InstallmentStatus.OVERDUE}
    changed = Event.objects.filter(type="user.status_changed")
    assert changed.count() == n_users and {e.data["status"] for e in changed} == {"DEBT_USER"}
    assert set(changed.values_list("merchant_id", flat=True)) == {None}
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT INTO events_event")]
    assert len(inserts) == 2  # one for the installments, one for the users, whatever their number
    # And no per-row statement anywhere: 20, plus the day's aging snapshot (API.md §13: its grouped
    # report and one upsert), whatever the number of users.
    assert len(queries.captured_queries) <= 20 + 2


def test_sweeping_twice_writes_nothing_more(db):
    _past_due(3, MerchantFactory())
    sweep_overdue()
    before = Event.objects.count()
    sweep_overdue()
    assert Event.objects.count() == before


def test_a_refused_plan_keeps_the_marking_and_its_events(client_api, merchant):
    """A plan refused with user_in_debt still commits the DEBT_USER marking (contract decision), and
    the events of that marking commit with it."""
    user = CustomerFactory()
    plan = make_plan(user=user, merchant=merchant)
    Installment.objects.filter(plan=plan, sequence=1).update(due_date=business_today() - timedelta(days=1))
    r = client_api.post("/api/v1/plans/", {"user_id": str(user.pk), "merchant_id": str(merchant.pk),
                                           "total_amount": "300.00", "installment_count": 3})
    assert r.status_code == 409 and r.json()["code"] == "user_in_debt"
    assert Event.objects.filter(type="installment.overdue", merchant=merchant).count() == 1
    assert Event.objects.get(type="user.status_changed").data["status"] == "DEBT_USER"
    assert Event.objects.filter(type="plan.created").count() == 1  # the first plan only


def test_every_payout_transition_is_a_payout_status_changed_event_for_its_merchant(operator_api, merchant):
    from ledger.tests.factories import make_payout

    payout = make_payout(amount=700, merchant_id=merchant.pk)
    for action, body in [("mark-sent", {"reference": "BANK-1"}), ("mark-failed", {"reason": "closed"}),
                         ("retry", {}), ("mark-sent", {"reference": "BANK-2"}), ("mark-settled", {})]:
        assert operator_api.post(f"/api/v1/payouts/{payout.pk}/{action}/", body).status_code == 200
    events = Event.objects.filter(type="payout.status_changed").order_by("id")
    assert [e.data["status"] for e in events] == ["SENT", "FAILED", "PENDING", "SENT", "SETTLED"]
    assert {e.merchant_id for e in events} == {merchant.pk}
    assert {e.data["id"] for e in events} == {str(payout.pk)} and events[0].data["amount"] == "7.00"


def test_a_reversal_is_a_repayment_reversed_event_for_the_client_apps_only(client_api, operator_api, merchant):
    plan = make_plan(user=CustomerFactory(), merchant=merchant)
    first = plan.installments.order_by("sequence").first()
    paid = client_api.post(f"/api/v1/debt/{plan.user_id}/", {"installment_ids": [str(first.pk)]}).json()
    r = operator_api.post(f"/api/v1/repayments/{paid['id']}/reverse/", {"reason": "chargeback"})
    assert r.status_code == 201, r.content
    event = Event.objects.get(type="repayment.reversed")
    assert event.merchant_id is None  # a merchant never sees the customer's money moving back
    assert (event.data["id"], event.data["repayment_id"], event.data["user_status"]) == (
        r.json()["id"], paid["id"], "NORMAL")
    assert [a["installment_id"] for a in event.data["allocations"]] == [str(first.pk)]
