"""``bnpl.modelbase.Model.from_db`` builds, for every model of ours, the instance Django's builds."""
import pytest
from django.apps import apps
from django.db import models
from django.db.models.signals import post_init

from bnpl.modelbase import Model
from plans.models import Installment, Plan
from plans.tests.factories import make_plan

OURS = [model for model in apps.get_models() if issubclass(model, Model)]


def djangos(model, field_names, values):
    return models.Model.from_db.__func__(model, "default", field_names, values)


def assert_same_instance(ours, theirs):
    assert type(ours) is type(theirs)
    # The same keys in the same order (``_state`` first, then the columns), the very same values.
    assert list(ours.__dict__) == list(theirs.__dict__)
    for name, value in theirs.__dict__.items():
        if name != "_state":
            assert ours.__dict__[name] is value, name
    assert (ours._state.db, ours._state.adding) == (theirs._state.db, theirs._state.adding) == ("default", False)
    assert vars(ours._state) == vars(theirs._state)


def test_every_model_of_every_app_loads_through_the_base():
    # A new model on models.Model would read its rows the slow way: every app's models use the base.
    project_apps = {"audit", "bnpl", "debt", "events", "ledger", "merchants", "plans", "refunds", "users", "webhooks"}
    ours = [model for model in apps.get_models() if model._meta.app_label in project_apps]
    assert ours and all(issubclass(model, Model) for model in ours), [m for m in ours if not issubclass(m, Model)]
    for model in ours:
        names = [f.attname for f in model._meta.concrete_fields]
        model.from_db("default", names, [None] * len(names))
    # Every column stored plainly (a field with a descriptor of its own keeps Django's from_db).
    assert [m for m in ours if not m.__dict__["_row_columns"][0]] == []


@pytest.mark.parametrize("model", OURS, ids=lambda m: m.__name__)
def test_a_whole_row_gives_djangos_instance(model):
    names = [f.attname for f in model._meta.concrete_fields]
    values = [object() for _ in names]  # distinct, so a value put under the wrong name is seen
    assert_same_instance(model.from_db("default", names, values), djangos(model, names, values))


@pytest.mark.parametrize("model", OURS, ids=lambda m: m.__name__)
def test_deferred_columns_are_left_out_as_django_leaves_them(model):
    names = [f.attname for f in model._meta.concrete_fields]
    loaded = names[::2]  # the primary key and every other column, as .only() would select them
    values = [object() for _ in loaded]
    ours = model.from_db("default", loaded, values)
    assert_same_instance(ours, djangos(model, loaded, values))
    assert ours.get_deferred_fields() == set(names[1::2])


def test_a_connected_init_receiver_is_honoured():
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Installment)
    try:
        names = [f.attname for f in Installment._meta.concrete_fields]
        instance = Installment.from_db("default", names, [None] * len(names))
    finally:
        post_init.disconnect(receiver, sender=Installment)
    assert seen == [instance]


@pytest.mark.django_db
def test_rows_read_back_through_the_orm_are_whole_and_saveable():
    plan = make_plan()
    loaded = Plan.objects.prefetch_related("installments").get(pk=plan.pk)
    assert loaded._state.adding is False and loaded._state.db == "default"
    assert loaded.total_amount == plan.total_amount and loaded.user_id == plan.user_id
    assert loaded.user == plan.user  # the foreign key's descriptor still reads the id set
    installments = list(loaded.installments.all())
    assert len(installments) == plan.installment_count
    assert sum(i.amount for i in installments) == plan.total_amount
    # A loaded instance saves as an update of its row, not an insert.
    first = installments[0]
    first.extended_days = 0
    first.save(update_fields=["extended_days"])
    assert Installment.objects.filter(plan=plan).count() == plan.installment_count
    only = Installment.objects.only("id", "amount").get(pk=first.pk)
    assert only.amount == first.amount and only.get_deferred_fields() >= {"due_date", "status"}
    assert only.due_date == first.due_date  # a deferred column still loads on access
