"""Aging (API.md §13): the buckets on the debt response and the report, now and as of a day."""
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from django.core.exceptions import ImproperlyConfigured

from debt.aging import aging_report, overdue_history, parse_buckets
from debt.models import AgingSnapshot
from debt.services import aging_snapshots_backfill, repayment_apply, sweep_overdue
from merchants.tests.factories import MerchantFactory
from plans.models import Plan
from plans.tests.factories import make_plan, minor
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.money]

TODAY = date(2026, 6, 15)  # every due date below falls on a day 1-28: start + 1 month is exact
LABELS = ("1-30", "31-60", "61-90", "91+")
REPORT = "/api/v1/reports/aging/"


def aged_plan(business_day, *, days: int, merchant=None, amount: str = "300.00", today: date = TODAY) -> Plan:
    """A plan whose installment 1 (a third of ``amount``) fell due ``days`` days before ``today``;
    installments 2 and 3 are repaid, so installment 1 alone is outstanding."""
    due = today - timedelta(days=days)
    start = business_day(due - relativedelta(months=1))
    plan = make_plan(start_date=start, total_amount=amount, merchant=merchant or MerchantFactory())
    assert plan.installments.get(sequence=1).due_date == due
    business_day(today)
    repayment_apply(user=plan.user, installment_ids=list(
        plan.installments.filter(sequence__gt=1).values_list("pk", flat=True)))
    return plan


def debt_aging(client_api, user_id, query: str = "") -> dict[str, tuple[str, int]]:
    r = client_api.get(f"/api/v1/debt/{user_id}/{query}")
    assert r.status_code == 200, r.content
    aging = r.json()["aging"]
    assert [row["bucket"] for row in aging] == list(LABELS)
    return {row["bucket"]: (row["amount"], row["installments"]) for row in aging}


def report(operator_api, query: str = "") -> dict:
    r = operator_api.get(REPORT + query)
    assert r.status_code == 200, r.content
    return r.json()


def zeros(filled: dict | None = None) -> dict:
    return {label: ("0.00", 0) for label in LABELS} | (filled or {})


# --- the buckets at their edges ------------------------------------------------------------------

@pytest.mark.parametrize(("days", "grace", "bucket"), [
    (0, 0, None), (1, 0, "1-30"), (30, 0, "1-30"), (31, 0, "31-60"), (60, 0, "31-60"), (61, 0, "61-90"),
    (90, 0, "61-90"), (91, 0, "91+"), (400, 0, "91+"),
    # Days past due count from the end of the grace days: due 33 days ago with 3 days' grace is day 30.
    (3, 3, None), (4, 3, "1-30"), (33, 3, "1-30"), (34, 3, "31-60"),
])
def test_debt_aging_buckets_at_their_edges(client_api, business_day, settings, days, grace, bucket):
    settings.BNPL_GRACE_DAYS = grace
    plan = aged_plan(business_day, days=days)
    expected = zeros() if bucket is None else zeros({bucket: ("100.00", 1)})
    assert debt_aging(client_api, plan.user_id) == expected


def test_report_aging_buckets_at_their_edges(operator_api, business_day):
    for days in (0, 1, 30, 31, 60, 61, 90, 91):
        aged_plan(business_day, days=days)
    sweep_overdue()
    body = report(operator_api)
    assert body == {
        "as_of": "2026-06-15", "currency": "UZS",
        "buckets": [
            {"bucket": "1-30", "installments": 2, "users": 2, "amount": "200.00"},
            {"bucket": "31-60", "installments": 2, "users": 2, "amount": "200.00"},
            {"bucket": "61-90", "installments": 2, "users": 2, "amount": "200.00"},
            {"bucket": "91+", "installments": 1, "users": 1, "amount": "100.00"},
        ],
        "total_overdue": "700.00", "fees_outstanding": "0.00",
    }
    # The same figures rebuilt from the journal for today.
    assert report(operator_api, "?as_of=2026-06-15") == body


def test_report_counts_users_once_per_bucket_and_sums_to_the_cent(operator_api, business_day):
    user = CustomerFactory()
    plans = []
    for days, amount in ((10, "100.01"), (5, "3.03")):  # installments 1: 33.33 and 1.01
        start = business_day(TODAY - timedelta(days=days) - relativedelta(months=1))
        plans.append(make_plan(user=user, start_date=start, total_amount=amount))
    business_day(TODAY)
    sweep_overdue()
    body = report(operator_api)
    assert body["buckets"][0] == {"bucket": "1-30", "installments": 2, "users": 1, "amount": "34.34"}
    assert body["total_overdue"] == "34.34"


def test_custom_aging_buckets(client_api, operator_api, business_day, settings):
    settings.BNPL_AGING_BUCKETS = "7,14"
    plans = [aged_plan(business_day, days=days) for days in (7, 8, 14, 16)]
    assert [row["bucket"] for row in client_api.get(f"/api/v1/debt/{plans[0].user_id}/").json()["aging"]] == \
        ["1-7", "8-14", "15+"]
    sweep_overdue()
    assert [(b["bucket"], b["installments"]) for b in report(operator_api)["buckets"]] == \
        [("1-7", 1), ("8-14", 2), ("15+", 1)]


@pytest.mark.parametrize("raw", ["", "0,30", "30,30", "60,30", "30,x", "30,,60", "-5", "٣٠", "1.5"])
def test_malformed_aging_buckets_are_refused(raw):
    with pytest.raises(ImproperlyConfigured):
        parse_buckets(raw)


def test_parse_aging_buckets():
    assert [b.label for b in parse_buckets("30,60,90")] == list(LABELS)
    assert [b.label for b in parse_buckets(" 5 ")] == ["1-5", "6+"]


@pytest.mark.postgresql_only
def test_malformed_aging_buckets_refuse_to_start():
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=root, capture_output=True, text=True,
                            env={**os.environ, "BNPL_AGING_BUCKETS": "60,30"}, timeout=120)
    assert result.returncode != 0 and "BNPL_AGING_BUCKETS" in result.stderr


# --- as of a day, from the journal -------------------------------------------------------------------

def test_report_as_of_reads_the_journal(client_api, operator_api, business_day):
    start = business_day(date(2026, 1, 10))
    plan = make_plan(total_amount="300.00", start_date=start)  # due 10 Feb, 10 Mar, 10 Apr
    business_day(date(2026, 3, 25))
    repayment_apply(user=plan.user, amount=minor("100.00"))  # installment 1, on 25 Mar
    business_day(date(2026, 4, 20))
    sweep_overdue()

    march_20 = report(operator_api, "?as_of=2026-03-20")
    assert [(b["bucket"], b["installments"], b["amount"]) for b in march_20["buckets"]] == [
        ("1-30", 1, "100.00"), ("31-60", 1, "100.00"), ("61-90", 0, "0.00"), ("91+", 0, "0.00")]
    assert (march_20["as_of"], march_20["total_overdue"]) == ("2026-03-20", "200.00")
    # The repayment of 25 Mar counts from the end of that day on, never before.
    assert report(operator_api, "?as_of=2026-03-24")["total_overdue"] == "200.00"
    assert report(operator_api, "?as_of=2026-03-25")["total_overdue"] == "100.00"
    # Installment 3 (due 10 Apr) is not aged on its due date, and is on the day after.
    april_10 = report(operator_api, "?as_of=2026-04-10")
    assert (april_10["total_overdue"], april_10["buckets"][0]["installments"]) == ("100.00", 0)
    april_11 = report(operator_api, "?as_of=2026-04-11")
    assert april_11["total_overdue"] == "200.00"
    assert april_11["buckets"][0] == {"bucket": "1-30", "installments": 1, "users": 1, "amount": "100.00"}
    # Before the plan was opened there is nothing.
    assert report(operator_api, "?as_of=2026-01-09")["total_overdue"] == "0.00"
    # Now: installments 2 (41 days) and 3 (10 days); the debt response's as_of agrees with the report's.
    now = report(operator_api)
    assert [(b["bucket"], b["amount"]) for b in now["buckets"][:2]] == [("1-30", "100.00"), ("31-60", "100.00")]
    assert debt_aging(client_api, plan.user_id, "?as_of=2026-03-20") == \
        zeros({"1-30": ("100.00", 1), "31-60": ("100.00", 1)})


def test_a_repayment_after_as_of_does_not_change_the_as_of_figure(operator_api, business_day):
    plan = aged_plan(business_day, days=45)
    sweep_overdue()
    before = report(operator_api, "?as_of=2026-06-15")
    business_day(TODAY + timedelta(days=1))
    repayment_apply(user=plan.user, amount=minor("100.00"))
    sweep_overdue()
    assert report(operator_api, "?as_of=2026-06-15") == before
    assert before["total_overdue"] == "100.00"
    assert report(operator_api)["total_overdue"] == "0.00"


# --- filters, roles, input ----------------------------------------------------------------------------

def test_report_merchant_filter(operator_api, business_day):
    shop, other = MerchantFactory(), MerchantFactory()
    aged_plan(business_day, days=10, merchant=shop, amount="300.00")
    aged_plan(business_day, days=40, merchant=other, amount="600.00")
    sweep_overdue()
    assert report(operator_api)["total_overdue"] == "300.00"
    for query in (f"?merchant_id={shop.pk}", f"?merchant_id={shop.pk}&as_of=2026-06-15"):
        body = report(operator_api, query)
        assert (body["total_overdue"], body["buckets"][0]["amount"], body["buckets"][1]["amount"]) == \
            ("100.00", "100.00", "0.00"), query
    assert report(operator_api, f"?merchant_id={other.pk}&as_of=2026-06-15")["buckets"][1]["amount"] == "200.00"


def test_report_roles(client_api, merchant_api, anon_api):
    for api in (client_api, merchant_api):
        r = api.get(REPORT)
        assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    assert anon_api.get(REPORT).status_code == 401


@pytest.mark.parametrize(("query", "attr", "code"), [
    ("?as_of=20260615", "as_of", "invalid"), ("?as_of=2026-02-30", "as_of", "invalid"),
    ("?as_of=٢٠٢٦-٠١-٣١", "as_of", "invalid"), ("?as_of=", "as_of", "invalid"),
    ("?as_of=2026-06-16", "as_of", "future_date"),
    ("?merchant_id=nope", "merchant_id", "invalid"), ("?merchant_id=", "merchant_id", "invalid"),
    ("?merchant_id={00000000-0000-0000-0000-000000000001}", "merchant_id", "invalid"),
    ("?merchant_id=00000000-0000-0000-0000-000000000001", "merchant_id", "does_not_exist"),
])
def test_report_invalid_as_of_or_merchant_id_is_400(operator_api, business_day, query, attr, code):
    business_day(TODAY)
    r = operator_api.get(REPORT + query)
    assert r.status_code == 400, r.content
    assert r["Content-Type"].startswith("application/problem+json")
    assert r.json()["errors"] == [{"attr": attr, "code": code, "detail": r.json()["errors"][0]["detail"]}]


# --- the daily snapshot ------------------------------------------------------------------------------

def test_snapshot_written_once_per_day_however_often_the_sweep_runs(business_day):
    plan = aged_plan(business_day, days=40)
    for _ in range(3):
        sweep_overdue()
    assert AgingSnapshot.objects.count() == 1
    row = AgingSnapshot.objects.get()
    assert (row.business_date, row.overdue_amount, row.installments) == (TODAY, minor("100.00"), 1)
    assert row.buckets[1] == {"bucket": "31-60", "installments": 1, "users": 1, "amount": minor("100.00")}

    # A later sweep the same day leaves that day's latest figures, still in one row.
    repayment_apply(user=plan.user, amount=minor("40.00"))
    sweep_overdue()
    assert list(AgingSnapshot.objects.values_list("business_date", "overdue_amount")) == [(TODAY, minor("60.00"))]

    business_day(TODAY + timedelta(days=1))
    sweep_overdue()
    sweep_overdue()
    assert list(AgingSnapshot.objects.order_by("business_date").values_list("business_date", flat=True)) == \
        [TODAY, TODAY + timedelta(days=1)]
    assert aging_report().total_overdue == minor("60.00")


def test_overdue_history_reads_the_snapshot_rows_in_one_query(business_day, django_assert_num_queries):
    aged_plan(business_day, days=40)
    for offset in (0, 3, 29, 30):
        sweep_overdue(today=TODAY - timedelta(days=offset))
    with django_assert_num_queries(1):
        history = overdue_history(days=30, today=TODAY)
    assert len(history) == 30 and history[0].day == TODAY - timedelta(days=29) and history[-1].day == TODAY
    assert [point.day for point in history if point.amount is not None] == \
        [TODAY - timedelta(days=29), TODAY - timedelta(days=3), TODAY]
    assert history[-1].amount == minor("100.00") and history[-1].installments == 1


def test_backfill_writes_missing_days_from_the_journal_and_keeps_swept_ones(business_day):
    start = business_day(date(2026, 1, 10))
    plan = make_plan(total_amount="300.00", start_date=start)  # due 10 Feb, 10 Mar, 10 Apr
    business_day(date(2026, 3, 12))
    sweep_overdue(today=date(2026, 3, 11))  # a swept day: kept as the sweep wrote it
    repayment_apply(user=plan.user, amount=minor("100.00"))  # on 12 Mar
    swept = AgingSnapshot.objects.get(business_date=date(2026, 3, 11))

    written = aging_snapshots_backfill(days=4, today=date(2026, 3, 12))
    assert written == [date(2026, 3, 8), date(2026, 3, 9), date(2026, 3, 10)]
    assert AgingSnapshot.objects.get(business_date=date(2026, 3, 11)).updated_at == swept.updated_at
    figures = dict(AgingSnapshot.objects.values_list("business_date", "overdue_amount"))
    # Before the repayment of 12 Mar: installment 1 overdue; on 10 Mar installment 2 is due, not yet overdue.
    assert figures[date(2026, 3, 10)] == minor("100.00")
    assert aging_snapshots_backfill(days=4, today=date(2026, 3, 12)) == []
