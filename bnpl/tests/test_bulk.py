"""``bnpl.bulk``: the thin INSERT and UPDATE write what the ORM would, on both databases."""
import uuid
import warnings
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from bnpl.bulk import bulk_insert, bulk_update
from plans.models import Installment, InstallmentStatus
from plans.tests.factories import make_plan

pytestmark = [pytest.mark.django_db, pytest.mark.money]


def _event(**overrides) -> AuditEvent:
    values = {"object_type": "plan", "object_id": uuid.uuid4(), "old": "ACTIVE", "new": "COMPLETED",
              "actor_type": "system", "actor_name": "test"}
    return AuditEvent(**{**values, **overrides})


def test_insert_writes_every_field_and_marks_the_objects_saved():
    events = [_event(request_id=f"r{n}") for n in range(3)]
    assert bulk_insert(AuditEvent, events) == 3
    stored = {e.pk: e for e in AuditEvent.objects.all()}
    assert set(stored) == {e.pk for e in events}
    for event in events:
        row = stored[event.pk]
        assert (row.object_id, row.request_id, row.new, row.field) == (event.object_id, event.request_id,
                                                                      "COMPLETED", "status")
        assert row.created_at == event.created_at is not None  # auto_now_add, set by pre_save
        assert not event._state.adding


def test_insert_skipping_conflicts_reports_that_nothing_was_written():
    first = _event()
    bulk_insert(AuditEvent, [first])
    again = _event(id=first.pk, new="ACTIVE")
    assert bulk_insert(AuditEvent, [again], skip_conflicts=True) == 0
    assert again._state.adding  # not saved
    assert AuditEvent.objects.get().new == "COMPLETED"


def test_update_writes_the_fields_named_and_only_those():
    plan = make_plan(total_amount="900.00", installment_count=3, start_date=timezone.localdate())
    installments = list(Installment.objects.filter(plan=plan).order_by("sequence"))
    paid_at = timezone.now() - timedelta(hours=5)
    first, second, third = installments
    first.paid_amount, first.status, first.paid_at = first.amount, InstallmentStatus.PAID, paid_at
    second.overdue_since, second.max_days_past_due = date(2026, 1, 2), 7
    third.due_date = date(2001, 1, 1)  # not among the fields written
    assert bulk_update(Installment, installments, ["paid_amount", "status", "paid_at", "overdue_since",
                                                   "max_days_past_due"]) == 3
    stored = {i.pk: i for i in Installment.objects.filter(plan=plan)}
    assert (stored[first.pk].paid_amount, stored[first.pk].status, stored[first.pk].paid_at) == (
        first.amount, InstallmentStatus.PAID, paid_at)
    assert (stored[second.pk].overdue_since, stored[second.pk].max_days_past_due) == (date(2026, 1, 2), 7)
    assert stored[second.pk].paid_at is None and stored[second.pk].paid_amount == 0
    assert stored[third.pk].due_date != date(2001, 1, 1)


def _samples():
    moment = timezone.now()
    return [None, 0, -1, 7, 2 ** 40, True, False, "", "x", "12", uuid.uuid4(), str(uuid.uuid4()),
            uuid.uuid4().hex, date(2026, 11, 30), moment, moment.replace(tzinfo=None), Decimal("1.50"), 1.5,
            InstallmentStatus.PAID]


def _outcome(prepare, value):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a naive datetime warns on both paths
        try:
            result = prepare(value)
        except Exception as exc:  # noqa: BLE001 - the same failure is the expected outcome
            return ("raises", type(exc))
    return ("value", type(result), result)


def test_the_fast_preparation_is_get_db_prep_save_for_every_field_and_value():
    """``preparer`` answers some types at once: for every concrete field of every model, and values of
    every type a row holds (and some it never should), it gives exactly what Django gives, or raises
    what Django raises."""
    from django.apps import apps
    from django.db import connection

    from bnpl.bulk import preparer

    checked = 0
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            fast = preparer(field)
            for value in _samples():
                expected = _outcome(lambda v, f=field: f.get_db_prep_save(v, connection), value)
                if expected != _outcome(lambda v, f=field: f.get_db_prep_save(v, connection), value):
                    # Not a function of the value (an encrypted column: a fresh nonce each time):
                    # never answered at once, always Django's own method.
                    assert fast.__name__ == "full", (model, field.name)
                    continue
                assert _outcome(lambda v, p=fast: p(v, connection), value) == expected, (model, field.name, value)
                checked += 1
    assert checked > 3000
