"""The sweep's ``user.status_changed`` events are built by PostgreSQL (``debt.services._user_event_sql``);
they must be the very resource the ``user`` representer gives (GET /users/{id}/: masked personal data,
the credit limit and what is left of it)."""
import json
from datetime import date, timedelta

import pytest
from django.db import connection, transaction

from debt.services import _user_event_sql, sweep_overdue
from events.models import Event
from events.services import event_record_select
from events.types import represent
from plans.models import Installment
from plans.tests.factories import make_plan
from users.models import Customer
from users.selectors import with_credit
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.skipif(connection.vendor != "postgresql",
                                                         reason="the set-based events are PostgreSQL's path")]


def _customer(*, limit, **fields) -> Customer:
    customer = CustomerFactory.create(**fields)
    Customer.objects.filter(pk=customer.pk).update(credit_limit=limit)
    customer.refresh_from_db()
    return customer


def _shown(user_id) -> dict:
    user = with_credit(queryset=Customer.objects.filter(pk=user_id)).get()
    return json.loads(json.dumps(represent("user.status_changed", user), default=str))


def test_the_sql_payload_is_the_representers():
    limited, unlimited = _customer(limit=50_000_00), _customer(limit=None, card_number=None)
    over = _customer(limit=None)  # its limit lowered below what it owes (below): 0 left, never below
    nothing = _customer(limit=7)  # owes nothing: the whole limit
    make_plan(user=limited, total_amount="1000.01", installment_count=4)
    make_plan(user=unlimited, total_amount="300.00")
    make_plan(user=over, total_amount="900.00")
    Customer.objects.filter(pk=over.pk).update(credit_limit=100)
    Installment.objects.filter(user=limited).update(fee_amount=1000, fee_waived_amount=100, paid_amount=5)
    # Every status: the paid and cancelled owe 0, and the sums read only the open ones.
    settling = _customer(limit=10_000_00)
    make_plan(user=settling, total_amount="400.00", installment_count=4)
    paid, cancelled, overdue, _ = Installment.objects.filter(user=settling).order_by("sequence")
    Installment.objects.filter(pk=paid.pk).update(status="PAID", paid_amount=paid.amount)
    Installment.objects.filter(pk=cancelled.pk).update(status="CANCELLED", refunded_amount=cancelled.amount)
    Installment.objects.filter(pk=overdue.pk).update(status="OVERDUE", fee_amount=250)
    ids = [limited.pk, unlimited.pk, over.pk, nothing.pk, settling.pk]
    with connection.cursor() as cursor:
        cursor.execute(_user_event_sql(), {"object_ids": ids})
        by_sql = {object_id: data for object_id, _, data in cursor.fetchall()}
    assert set(by_sql) == set(ids)
    for user_id in ids:
        data = by_sql[user_id]
        assert (json.loads(data) if isinstance(data, str) else data) == _shown(user_id)
    assert _shown(over.pk)["available_credit"] == "0.00" and _shown(unlimited.pk)["available_credit"] is None
    assert _shown(settling.pk)["available_credit"] == "9797.50"  # 10,000 - (2 x 100 + the 2.50 fee)


def test_the_sweep_writes_them_without_a_merchant(business_day):
    business_day(date(2025, 1, 1))
    user = _customer(limit=10_000_00)
    plan = make_plan(user=user, total_amount="300.00", start_date=date(2025, 1, 1))
    business_day(date(2025, 1, 1) + timedelta(days=60))
    Event.objects.all().delete()
    sweep_overdue()
    [event] = Event.objects.filter(type="user.status_changed")
    assert event.merchant_id is None and event.data["status"] == "DEBT_USER"
    assert event.data == _shown(user.pk) and plan.merchant_id is not None
    with transaction.atomic():  # a client-only type never carries a merchant, whatever the SQL selects
        assert event_record_select(type="user.status_changed", object_ids=[user.pk], select_sql=_user_event_sql(),
                                   params={}) == 1
    assert set(Event.objects.filter(type="user.status_changed").values_list("merchant_id", flat=True)) == {None}
