"""Due-date extension (API.md §13): ``POST /api/v1/installments/{id}/extend/`` ``{"days": 1-14}``,
client keys, once per plan, never for an overdue or settled installment.

The plan: 900.00 in 3 from 31 Jan 2025, due 28 Feb, 31 Mar, 30 Apr; seen on 20 Feb unless said.
"""
from datetime import date

import pytest

from audit.models import AuditEvent
from debt.services import repayment_apply, sweep_overdue
from plans.models import Installment
from plans.tests.factories import make_plan
from users.models import Customer

pytestmark = pytest.mark.django_db

START, TODAY = date(2025, 1, 31), date(2025, 2, 20)


def extend_url(installment) -> str:
    return f"/api/v1/installments/{installment.pk}/extend/"


@pytest.fixture
def plan(business_day):
    business_day(START)
    plan = make_plan(total_amount="900.00", start_date=START)
    business_day(TODAY)
    return plan


def inst(plan, sequence) -> Installment:
    return Installment.objects.get(plan=plan, sequence=sequence)


def test_an_extension_moves_the_due_date_and_is_shown_everywhere(client_api, plan):
    first = inst(plan, 1)
    r = client_api.post(extend_url(first), {"days": 7})
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["id"], body["due_date"], body["extended_days"], body["status"]) == (
        str(first.pk), "2025-03-07", 7, "UPCOMING")
    assert (body["amount"], body["outstanding_amount"], body["days_past_due"], body["overdue_since"]) == (
        "300.00", "300.00", 0, None)
    first.refresh_from_db()
    assert (first.due_date, first.extended_days) == (date(2025, 3, 7), 7)
    shown = client_api.get(f"/api/v1/plans/{plan.pk}/").json()["installments"][0]
    assert shown == body
    trail = AuditEvent.objects.get(object_id=first.pk, field="due_date")
    assert (trail.old, trail.new, trail.actor_type) == ("2025-02-28", "2025-03-07", "api_key")


def test_the_extended_due_date_is_what_the_overdue_rule_reads(client_api, plan, business_day):
    first = inst(plan, 1)
    assert client_api.post(extend_url(first), {"days": 14}).status_code == 200  # due 14 Mar
    business_day(date(2025, 3, 14))
    sweep_overdue()
    assert inst(plan, 1).status == "UPCOMING"
    assert client_api.get(f"/api/v1/debt/{plan.user_id}/").json()["status"] == "NORMAL"
    business_day(date(2025, 3, 15))
    sweep_overdue()
    first.refresh_from_db()
    assert (first.status, first.overdue_since) == ("OVERDUE", date(2025, 3, 15))
    assert client_api.get(f"/api/v1/plans/{plan.pk}/").json()["installments"][0]["days_past_due"] == 1


@pytest.mark.parametrize("second", [1, 2], ids=["same installment", "another installment"])
def test_a_second_extension_on_the_plan_is_409(client_api, plan, second):
    assert client_api.post(extend_url(inst(plan, 1)), {"days": 3}).status_code == 200
    r = client_api.post(extend_url(inst(plan, second)), {"days": 3})
    assert r.status_code == 409 and r.json()["code"] == "invalid_state", r.content
    assert [i.extended_days for i in plan.installments.order_by("sequence")] == [3, 0, 0]
    assert inst(plan, 2).due_date == date(2025, 3, 31)


def test_another_plan_of_the_same_user_has_its_own_extension(client_api, plan, business_day):
    other = make_plan(user=Customer.objects.get(pk=plan.user_id), total_amount="90.00", start_date=TODAY)
    assert client_api.post(extend_url(inst(plan, 1)), {"days": 3}).status_code == 200
    assert client_api.post(extend_url(inst(other, 1)), {"days": 3}).status_code == 200


def test_an_overdue_installment_cannot_be_extended(client_api, plan, business_day):
    business_day(date(2025, 3, 1))
    sweep_overdue()
    first = inst(plan, 1)
    assert first.status == "OVERDUE"
    r = client_api.post(extend_url(first), {"days": 5})
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    first.refresh_from_db()
    assert (first.due_date, first.extended_days) == (date(2025, 2, 28), 0)


def test_an_installment_past_due_but_not_yet_marked_cannot_be_extended(client_api, plan, business_day):
    business_day(date(2025, 3, 1))  # no sweep: UPCOMING in the table, overdue by the rule
    r = client_api.post(extend_url(inst(plan, 1)), {"days": 5})
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    assert inst(plan, 1).due_date == date(2025, 2, 28)


def test_an_installment_due_today_can_still_be_extended(client_api, plan, business_day):
    business_day(date(2025, 2, 28))
    assert client_api.post(extend_url(inst(plan, 1)), {"days": 1}).json()["due_date"] == "2025-03-01"


def test_a_settled_installment_cannot_be_extended(client_api, plan):
    first = inst(plan, 1)
    repayment_apply(user=Customer.objects.get(pk=plan.user_id), installment_ids=[first.pk])
    r = client_api.post(extend_url(first), {"days": 5})
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    first.refresh_from_db()
    assert (first.status, first.due_date, first.extended_days) == ("PAID", date(2025, 2, 28), 0)


@pytest.mark.parametrize("days", [0, 15, -1, "x", 1.5, True, None, "", [7]])
def test_days_out_of_range_or_not_a_whole_number_is_400_and_changes_nothing(client_api, plan, days):
    r = client_api.post(extend_url(inst(plan, 1)), {"days": days})
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["code"] == "validation_error" and [e["attr"] for e in body["errors"]] == ["days"]
    assert list(plan.installments.values_list("extended_days", flat=True)) == [0, 0, 0]


def test_missing_days_is_400(client_api, plan):
    r = client_api.post(extend_url(inst(plan, 1)), {})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "days"


@pytest.mark.parametrize("days", [1, 14, "7"])
def test_days_at_the_edges_are_accepted(client_api, plan, days):
    assert client_api.post(extend_url(inst(plan, 2)), {"days": days}).status_code == 200


@pytest.mark.parametrize("role", ["merchant", "operator"])
def test_only_client_keys_extend(make_api, plan, role):
    api = make_api(role, merchant=plan.merchant if role == "merchant" else None)
    r = api.post(extend_url(inst(plan, 1)), {"days": 3})
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    assert inst(plan, 1).extended_days == 0


def test_no_key_is_401(anon_api, plan):
    assert anon_api.post(extend_url(inst(plan, 1)), {"days": 3}).status_code == 401


@pytest.mark.parametrize("pk", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_an_unknown_installment_is_404(client_api, plan, pk):
    r = client_api.post(f"/api/v1/installments/{pk}/extend/", {"days": 3})
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_get_is_405(client_api, plan):
    assert client_api.get(extend_url(inst(plan, 1))).status_code == 405


def test_the_schema_and_the_index_list_the_extension(client_api, anon_api):
    schema = anon_api.get("/swagger.json").json()
    operation = schema["paths"]["/api/v1/installments/{id}/extend/"]["post"]
    assert {"200", "400", "404", "409"} <= set(operation["responses"])
    assert "extended_days" in schema["definitions"]["Installment"]["properties"]
    assert anon_api.get("/api/v1/").json()["resources"]["installment_extension"].endswith(
        "/api/v1/installments/{id}/extend/")


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_racing_extensions_of_one_plan_exactly_one_wins(client_api, business_day):
    from bnpl.testing.concurrency import race

    business_day(START)
    plan = make_plan(total_amount="900.00", start_date=START)
    business_day(TODAY)
    installments = list(plan.installments.order_by("sequence"))
    responses = race(9, lambda i: client_api.post(extend_url(installments[i % 3]), {"days": 1 + i}))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 8, codes
    assert plan.installments.filter(extended_days__gt=0).count() == 1
