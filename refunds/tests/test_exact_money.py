"""Exact money on every database (issue 10): the scenarios SQLite's floats used to break, over HTTP.

Run on PostgreSQL and, by the second pass of ``make test`` (``BNPL_TEST_DB=sqlite``), on SQLite,
where every amount was binary floating point before amounts became integer minor units.
"""
import os

import pytest
from django.db import connection
from django.test import override_settings

from plans.models import Installment, Plan
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.money]


def test_the_pass_runs_on_the_database_it_names():
    expected = "sqlite" if os.environ.get("BNPL_TEST_DB") == "sqlite" else "postgresql"
    assert connection.vendor == expected


def _plan(client_api, merchant, total: str, count: int) -> dict:
    r = client_api.post("/api/v1/plans/", {"user_id": str(CustomerFactory.create().pk), "merchant_id": str(merchant.pk),
                                           "total_amount": total, "installment_count": count})
    assert r.status_code == 201, r.json()
    return r.json()


def _repay(client_api, plan: dict, **body) -> dict:
    r = client_api.post(f"/api/v1/debt/{plan['user_id']}/", body)
    assert r.status_code == 201, r.json()
    return r.json()


def _refund(client_api, operator_api, plan: dict, amount: str) -> dict:
    r = client_api.post("/api/v1/refunds/", {"plan_id": plan["id"], "transaction_id": f"T-{amount}",
                                             "amount": amount})
    assert r.status_code == 201, r.json()
    r = operator_api.post(f"/api/v1/refunds/{r.json()['id']}/approve/")
    assert r.status_code == 200, r.json()
    return r.json()


def _get(client_api, plan: dict) -> dict:
    return client_api.get(f"/api/v1/plans/{plan['id']}/").json()


def test_a_030_plan_in_3_is_paid_off_by_ids(client_api, merchant):
    plan = _plan(client_api, merchant, "0.30", 3)
    assert [i["amount"] for i in plan["installments"]] == ["0.10", "0.10", "0.10"]
    for installment in plan["installments"]:
        _repay(client_api, plan, installment_ids=[installment["id"]])
    body = _get(client_api, plan)
    assert (body["status"], body["paid_amount"], body["outstanding_amount"]) == ("COMPLETED", "0.30", "0.00")
    assert [i["status"] for i in body["installments"]] == ["PAID"] * 3
    assert Plan.objects.get(pk=plan["id"]).paid_amount == 30


def test_a_10001_plan_in_12_is_completed_when_every_installment_is_paid(client_api, merchant):
    plan = _plan(client_api, merchant, "100.01", 12)
    assert [i["amount"] for i in plan["installments"]] == ["8.33"] * 11 + ["8.38"]
    repayment = _repay(client_api, plan, installment_ids=[i["id"] for i in plan["installments"]])
    assert repayment["amount"] == "100.01" and repayment["outstanding_amount"] == "0.00"
    body = _get(client_api, plan)
    assert (body["status"], body["paid_amount"], body["outstanding_amount"]) == ("COMPLETED", "100.01", "0.00")
    assert {i["status"] for i in body["installments"]} == {"PAID"}


def test_a_090_plan_with_010_repaid_takes_an_approved_080_refund(client_api, operator_api, merchant):
    plan = _plan(client_api, merchant, "0.90", 3)
    _repay(client_api, plan, amount="0.10")
    refund = _refund(client_api, operator_api, plan, "0.80")
    assert (refund["status"], refund["applied_amount"], refund["payout_amount"]) == ("APPROVED", "0.80", "0.00")
    body = _get(client_api, plan)
    assert (body["status"], body["paid_amount"], body["refunded_amount"]) == ("COMPLETED", "0.10", "0.80")
    assert [i["status"] for i in body["installments"]] == ["PAID", "CANCELLED", "CANCELLED"]


def test_a_full_refund_of_a_030_plan_in_3(client_api, operator_api, merchant):
    plan = _plan(client_api, merchant, "0.30", 3)
    refund = _refund(client_api, operator_api, plan, "0.30")
    assert (refund["applied_amount"], refund["payout_amount"]) == ("0.30", "0.00")
    body = _get(client_api, plan)
    assert (body["status"], body["refunded_amount"], body["outstanding_amount"]) == ("COMPLETED", "0.30", "0.00")
    assert [i["status"] for i in body["installments"]] == ["CANCELLED"] * 3


def test_refund_after_a_partial_repayment_pays_out_the_rest_exactly(client_api, operator_api, merchant):
    plan = _plan(client_api, merchant, "0.30", 3)
    _repay(client_api, plan, amount="0.25")
    refund = _refund(client_api, operator_api, plan, "0.30")
    assert (refund["applied_amount"], refund["payout_amount"]) == ("0.05", "0.25")
    assert _get(client_api, plan)["status"] == "COMPLETED"


# --- Currencies with 0 and 3 places ----------------------------------------------------------------

@override_settings(BNPL_CURRENCY="JPY")
def test_a_yen_deployment_has_no_places(client_api, operator_api, merchant):
    plan = _plan(client_api, merchant, "1000", 3)
    assert plan["currency"] == "JPY"
    assert (plan["total_amount"], plan["paid_amount"]) == ("1000", "0")
    assert [i["amount"] for i in plan["installments"]] == ["333", "333", "334"]
    assert list(Installment.objects.filter(plan_id=plan["id"]).order_by("sequence")
                .values_list("amount", flat=True)) == [333, 333, 334]
    repayment = _repay(client_api, plan, amount=500)
    assert (repayment["amount"], repayment["currency"]) == ("500", "JPY")
    assert [a["amount"] for a in repayment["allocations"]] == ["333", "167"]
    refund = _refund(client_api, operator_api, plan, "600")
    assert (refund["applied_amount"], refund["payout_amount"], refund["currency"]) == ("500", "100", "JPY")
    r = client_api.post("/api/v1/plans/", {"user_id": str(CustomerFactory().pk), "merchant_id": str(merchant.pk),
                                           "total_amount": "1000.5", "installment_count": 3})
    assert r.status_code == 400
    assert r.json()["errors"][0]["attr"] == "total_amount" and r.json()["errors"][0]["code"] == "max_places"
    debt = client_api.get(f"/api/v1/debt/{plan['user_id']}/").json()
    assert (debt["currency"], debt["outstanding_amount"]) == ("JPY", "0")


@override_settings(BNPL_CURRENCY="KWD")
def test_a_dinar_deployment_has_three_places(client_api, operator_api, merchant):
    plan = _plan(client_api, merchant, "1.25", 3)
    assert plan["currency"] == "KWD"
    assert plan["total_amount"] == "1.250" and plan["outstanding_amount"] == "1.250"
    assert [i["amount"] for i in plan["installments"]] == ["0.416", "0.416", "0.418"]
    assert Plan.objects.get(pk=plan["id"]).total_amount == 1250
    repayment = _repay(client_api, plan, amount="0.417")
    assert [a["amount"] for a in repayment["allocations"]] == ["0.416", "0.001"]
    assert repayment["outstanding_amount"] == "0.833"
    refund = _refund(client_api, operator_api, plan, "0.833")
    assert (refund["applied_amount"], refund["payout_amount"]) == ("0.833", "0.000")
    assert _get(client_api, plan)["status"] == "COMPLETED"
    r = client_api.post(f"/api/v1/debt/{plan['user_id']}/", {"amount": "0.0001"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "max_places"
    # The smallest plan: one minor unit per installment.
    assert client_api.post("/api/v1/plans/", {"user_id": str(CustomerFactory().pk), "merchant_id": str(merchant.pk),
                                              "total_amount": "0.002", "installment_count": 3}).status_code == 400
    assert _plan(client_api, merchant, "0.003", 3)["installments"][0]["amount"] == "0.001"
