"""Payouts over HTTP: the lifecycle, roles and reach, the journal, racing actions."""
import pytest

from audit.models import AuditEvent
from bnpl.testing.concurrency import race
from ledger.models import JournalEntry, JournalTransaction, Kind, Payout, PayoutStatus
from ledger.tests.factories import make_payout

PAYOUT_FIELDS = {"id", "refund_id", "plan_id", "user_id", "amount", "currency", "status", "reference",
                 "failure_reason", "created_at", "updated_at"}


def _act(api, payout, action, body=None):
    return api.post(f"/api/v1/payouts/{payout.pk}/{action}/", body or {})


@pytest.mark.django_db
def test_a_payout_is_shown_exactly_as_the_contract_says(client_api):
    payout = make_payout(amount=12345)
    body = client_api.get(f"/api/v1/payouts/{payout.pk}/").json()
    assert set(body) == PAYOUT_FIELDS
    assert (body["amount"], body["currency"], body["status"], body["reference"], body["failure_reason"]) == \
        ("123.45", "UZS", "PENDING", "", "")
    assert body["refund_id"] == str(payout.refund_id) and body["plan_id"] == str(payout.plan_id)


@pytest.mark.django_db
def test_the_whole_lifecycle_sent_failed_retried_sent_settled(operator_api):
    payout = make_payout(amount=5000)
    r = _act(operator_api, payout, "mark-sent", {"reference": "BANK-1"})
    assert r.status_code == 200 and (r.json()["status"], r.json()["reference"]) == ("SENT", "BANK-1")
    r = _act(operator_api, payout, "mark-failed", {"reason": "account closed"})
    assert (r.json()["status"], r.json()["failure_reason"]) == ("FAILED", "account closed")
    r = _act(operator_api, payout, "retry")
    assert (r.json()["status"], r.json()["reference"], r.json()["failure_reason"]) == \
        ("PENDING", "", "account closed")
    assert _act(operator_api, payout, "mark-sent", {"reference": "BANK-2"}).json()["failure_reason"] == ""
    assert JournalTransaction.objects.filter(kind=Kind.PAYOUT_SETTLED).count() == 0
    r = _act(operator_api, payout, "mark-settled")
    assert r.status_code == 200 and r.json()["status"] == "SETTLED"

    settled = JournalTransaction.objects.get(kind=Kind.PAYOUT_SETTLED)
    assert (settled.amount, settled.source_type, settled.source_id) == (5000, "payout", payout.pk)
    # The customer is owed nothing any more: refunds_owed is back to zero for this user.
    owed = sum(JournalEntry.objects.filter(user_id=payout.user_id, account="refunds_owed")
               .values_list("amount", flat=True))
    assert owed == 0
    history = list(AuditEvent.objects.filter(object_id=payout.pk).order_by("created_at", "id")
                   .values_list("old", "new", "actor_type"))
    assert [(o, n) for o, n, _ in history] == [
        ("", "PENDING"), ("PENDING", "SENT"), ("SENT", "FAILED"), ("FAILED", "PENDING"), ("PENDING", "SENT"),
        ("SENT", "SETTLED")]
    assert {a for _, _, a in history[1:]} == {"api_key"}


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "action", "body"), [
    ("PENDING", "mark-settled", {}), ("PENDING", "mark-failed", {"reason": "x"}), ("PENDING", "retry", {}),
    ("SENT", "mark-sent", {"reference": "r"}), ("SENT", "retry", {}),
    ("SETTLED", "mark-sent", {"reference": "r"}), ("SETTLED", "mark-failed", {"reason": "x"}),
    ("SETTLED", "retry", {}), ("SETTLED", "mark-settled", {}),
    ("FAILED", "mark-settled", {}), ("FAILED", "mark-sent", {"reference": "r"}),
])
def test_any_other_transition_is_409_and_changes_nothing(operator_api, status, action, body):
    payout = make_payout()
    Payout.objects.filter(pk=payout.pk).update(status=status)
    r = _act(operator_api, payout, action, body)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    assert Payout.objects.get(pk=payout.pk).status == status
    assert not JournalTransaction.objects.filter(kind=Kind.PAYOUT_SETTLED).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "body"), [("mark-sent", {}), ("mark-sent", {"reference": ""}),
                                              ("mark-sent", {"reference": "x" * 129}), ("mark-failed", {})])
def test_a_missing_reference_or_reason_is_400(operator_api, action, body):
    payout = make_payout()
    if action == "mark-failed":
        Payout.objects.filter(pk=payout.pk).update(status="SENT")
    r = _act(operator_api, payout, action, body)
    assert r.status_code == 400 and r.json()["code"] == "validation_error"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["client", "merchant"])
@pytest.mark.parametrize("action", ["mark-sent", "mark-settled", "mark-failed", "retry"])
def test_only_operators_act_on_payouts(make_api, merchant, role, action):
    payout = make_payout(merchant_id=merchant.pk)
    api = make_api(role, merchant=merchant if role == "merchant" else None)
    r = _act(api, payout, action, {"reference": "r", "reason": "x"})
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    assert Payout.objects.get(pk=payout.pk).status == PayoutStatus.PENDING


@pytest.mark.django_db
def test_reads_client_and_operator_see_all_a_merchant_only_its_plans(make_api, merchant, client_api, operator_api):
    own, other = make_payout(merchant_id=merchant.pk), make_payout()
    merchant_api = make_api("merchant", merchant=merchant)
    for api in (client_api, operator_api):
        assert {p["id"] for p in api.get("/api/v1/payouts/").json()["results"]} == {str(own.pk), str(other.pk)}
        assert api.get(f"/api/v1/payouts/{other.pk}/").status_code == 200
    assert [p["id"] for p in merchant_api.get("/api/v1/payouts/").json()["results"]] == [str(own.pk)]
    assert merchant_api.get(f"/api/v1/payouts/{own.pk}/").status_code == 200
    r = merchant_api.get(f"/api/v1/payouts/{other.pk}/")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    # An operator acting on a payout is never hidden; a merchant cannot even reach another's.
    assert _act(merchant_api, other, "mark-sent", {"reference": "r"}).status_code in (403, 404)


@pytest.mark.django_db
def test_list_filters(client_api):
    a, b = make_payout(), make_payout()
    Payout.objects.filter(pk=b.pk).update(status="SENT")
    assert [p["id"] for p in client_api.get("/api/v1/payouts/?status=SENT").json()["results"]] == [str(b.pk)]
    assert [p["id"] for p in client_api.get(f"/api/v1/payouts/?user_id={a.user_id}").json()["results"]] == \
        [str(a.pk)]
    assert [p["id"] for p in client_api.get(f"/api/v1/payouts/?refund_id={b.refund_id}").json()["results"]] == \
        [str(b.pk)]
    assert client_api.get("/api/v1/payouts/?status=LOST").status_code == 400
    assert client_api.get("/api/v1/payouts/?user_id=not-a-uuid").status_code == 400


@pytest.mark.django_db
def test_unknown_or_malformed_payout_is_404(operator_api):
    assert operator_api.get("/api/v1/payouts/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert operator_api.post("/api/v1/payouts/nope/mark-settled/", {}).status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", ["PENDING", "SENT"])
def test_racing_actions_exactly_one_wins(make_api, status):
    payout = make_payout()
    Payout.objects.filter(pk=payout.pk).update(status=status)
    operators = [make_api("operator") for _ in range(4)]
    actions = ([("mark-sent", {"reference": "r"})] if status == "PENDING"
               else [("mark-settled", {}), ("mark-failed", {"reason": "bounced"})])

    responses = race(16, lambda i: _act(operators[i % 4], payout, *actions[i % len(actions)]))

    assert not [r for r in responses if isinstance(r, Exception)], responses
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 15, codes
    payout.refresh_from_db()
    settled = JournalTransaction.objects.filter(kind=Kind.PAYOUT_SETTLED).count()
    assert settled == (1 if payout.status == PayoutStatus.SETTLED else 0)
    assert AuditEvent.objects.filter(object_id=payout.pk).count() == 2
