"""The sweep's ``installment.overdue`` events are built by PostgreSQL (``plans.installments.
_installment_event_sql``); they must be the very resource the ``installment`` representer gives
(the plan's installment as the API lists it, with its plan and user), and ``format_minor_sql`` the
very text of ``format_minor``, in every currency exponent."""
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test import override_settings
from rest_framework import serializers

from bnpl import dates
from bnpl.money import format_minor, format_minor_sql
from debt.services import sweep_overdue
from events.models import Event
from events.types import represent
from plans.installments import _installment_event_sql, record_overdue_set_based
from plans.models import Installment, LateFee
from plans.tests.factories import make_plan

pytestmark = [pytest.mark.django_db, pytest.mark.skipif(connection.vendor != "postgresql",
                                                         reason="the set-based events are PostgreSQL's path")]

AMOUNTS = [0, 1, 9, 10, 99, 100, 101, 12345, 100000, 999999999, 10**15 + 7]


@pytest.mark.parametrize("currency", ["UZS", "JPY", "KWD"])
def test_format_minor_sql_is_format_minor(currency):
    with override_settings(BNPL_CURRENCY=currency), connection.cursor() as cursor:
        for amount in AMOUNTS:
            cursor.execute(f"SELECT {format_minor_sql('%s::bigint')}", [amount])  # noqa: S608
            assert cursor.fetchone()[0] == format_minor(amount), (currency, amount)


def test_the_sql_payload_is_the_representers(business_day):
    business_day(date(2025, 1, 1))
    plan = make_plan(total_amount="1000.01", installment_count=4, start_date=date(2025, 1, 1))
    today = date(2025, 6, 15)
    business_day(today)
    cutoff = dates.overdue_cutoff(today)
    rows = list(plan.installments.order_by("sequence"))
    # Every column the payload shows, away from its default: fees, a refund, an extension, the record.
    Installment.objects.filter(pk=rows[0].pk).update(
        status="OVERDUE", fee_amount=10000, fee_waived_amount=2500, refunded_amount=1, overdue_since=date(2025, 2, 2),
        max_days_past_due=3)
    Installment.objects.filter(pk=rows[1].pk).update(status="OVERDUE", max_days_past_due=400, extended_days=7)
    Installment.objects.filter(pk=rows[2].pk).update(collection_paused_until=today + timedelta(days=1))
    Installment.objects.filter(pk=rows[3].pk).update(due_date=today + timedelta(days=10))
    ids = [row.pk for row in rows]
    with connection.cursor() as cursor:
        cursor.execute(_installment_event_sql(), {"object_ids": ids, "cutoff": cutoff, "today": today})
        by_sql = {object_id: data for object_id, _, data in cursor.fetchall()}
    assert set(by_sql) == set(ids)
    for installment in Installment.objects.filter(pk__in=ids):
        data = by_sql[installment.pk]
        assert (json.loads(data) if isinstance(data, str) else data) == json.loads(
            json.dumps(represent("installment.overdue", installment), default=str)), installment.sequence


@pytest.mark.parametrize("moment", [datetime(2025, 6, 15, 9, 30, 0, tzinfo=UTC),
                                    datetime(2025, 6, 15, 9, 30, 0, 1, tzinfo=UTC),
                                    datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)])
def test_datetime_text_sql_is_drfs(moment):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {dates.datetime_text_sql('%s::timestamptz')}", [moment] * 3)  # noqa: S608
        assert cursor.fetchone()[0] == serializers.DateTimeField().to_representation(moment)
        cursor.execute(f"SELECT {dates.datetime_text_sql('NULL::timestamptz')}")  # noqa: S608
        assert cursor.fetchone()[0] is None


def test_a_marked_installment_with_a_payment_and_a_fee_event_are_the_representers(business_day, settings):
    business_day(date(2025, 1, 1))
    plan = make_plan(total_amount="300.00", start_date=date(2025, 1, 1))
    today = date(2025, 6, 15)
    business_day(today)
    first, second, _ = plan.installments.order_by("sequence")
    Installment.objects.filter(pk=first.pk).update(status="OVERDUE", paid_amount=5000,
                                                   paid_at=datetime(2025, 6, 1, 8, 0, 0, 250, tzinfo=UTC))
    Installment.objects.filter(pk=second.pk).update(status="OVERDUE")
    Event.objects.all().delete()
    with transaction.atomic():
        record_overdue_set_based([first.pk, second.pk], cutoff=dates.overdue_cutoff(today), today=today)
    events = {e.data["id"]: e for e in Event.objects.filter(type="installment.overdue")}
    assert set(events) == {str(first.pk), str(second.pk)}
    assert {e.merchant_id for e in events.values()} == {plan.merchant_id}
    assert events[str(first.pk)].id != events[str(second.pk)].id
    for installment in Installment.objects.filter(pk__in=[first.pk, second.pk]):
        assert events[str(installment.pk)].data == json.loads(json.dumps(
            represent("installment.overdue", installment), default=str))
    # fee.assessed: the fees the sweep assesses, built by the database, are the representer's.
    settings.BNPL_LATE_FEES = ((1, Decimal("10.00")), (8, Decimal("7.00")))
    Event.objects.all().delete()
    sweep_overdue(today=today)
    fees = list(LateFee.objects.filter(plan=plan))
    assert fees
    shown = {e.data["id"]: e.data for e in Event.objects.filter(type="fee.assessed")}
    assert set(shown) == {str(f.pk) for f in fees}
    for fee in LateFee.objects.filter(plan=plan).select_related("installment"):
        assert shown[str(fee.pk)] == json.loads(json.dumps(represent("fee.assessed", fee), default=str))
