"""``bnpl.prepared``: a prepared read gives exactly the objects its queryset gives through the ORM.

Each prepared read of the API is held here to the queryset it stands for, over rows in the states
its readers show (a merchant-scoped caller and one that reaches every merchant, a foreign object,
a malformed id, deferred columns, the credit annotation, prefetched installments), on both
databases (the money pass runs it on SQLite too: the converters are the database's).
"""
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bnpl.models import ApiKey, Role
from bnpl.prepared import PreparedQuery, PreparedRows
from bnpl.testing.db import statement_run
from debt.selectors import open_installments
from merchants.models import Merchant
from merchants.selectors import merchant_visible_to, merchants_visible_to
from merchants.tests.factories import MerchantFactory
from plans.models import Installment, InstallmentStatus, Plan
from plans.selectors import plan_visible_to, plans_visible_to
from plans.tests.factories import make_plan
from users.models import Customer
from users.selectors import user_by_id, user_queryset, user_with_credit, with_credit
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.money]


def _state(obj: Model, *annotations: str) -> dict:
    """What a reader can see of an object: every loaded column, the deferred ones, the annotations."""
    deferred = obj.get_deferred_fields()
    loaded = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.attname not in deferred}
    return {"type": type(obj), "loaded": loaded, "deferred": deferred, "adding": obj._state.adding,
            "db": obj._state.db, **{name: getattr(obj, name) for name in annotations}}


def _keys(merchant: Merchant) -> list[ApiKey]:
    return [ApiKey(role=Role.CLIENT), ApiKey(role=Role.OPERATOR), ApiKey(role=Role.MERCHANT, merchant_id=merchant.pk),
            ApiKey(role=Role.MERCHANT, merchant_id=MerchantFactory.create().pk)]


def test_a_merchant_is_read_as_the_orm_reads_it_for_every_caller():
    merchant = MerchantFactory.create()
    for key in _keys(merchant):
        expected = merchants_visible_to(api_key=key).filter(pk=merchant.pk).first()
        got = merchant_visible_to(api_key=key, pk=merchant.pk)
        if expected is None:  # a foreign merchant's key
            assert got is None and key.merchant_id != merchant.pk
        else:
            assert got is not None and _state(got) == _state(expected)
            assert got.get_deferred_fields() == {"webhook_secret"}  # never loaded on a read


def test_a_user_with_its_credit_is_read_as_the_orm_reads_it():
    debtor, limited, unknown = CustomerFactory.create(), CustomerFactory.create(), uuid.uuid4()
    Customer.objects.filter(pk=limited.pk).update(credit_limit=None)
    plan = make_plan(user=debtor, total_amount="900.01", installment_count=4)
    Installment.objects.filter(plan=plan, sequence=1).update(paid_amount=22500, status=InstallmentStatus.PAID)
    for user in (debtor, limited):
        expected = with_credit(queryset=user_queryset()).get(pk=user.pk)
        got = user_with_credit(pk=user.pk)
        assert got is not None
        assert _state(got, "outstanding_amount", "available_credit") == \
            _state(expected, "outstanding_amount", "available_credit")
        assert _state(user_by_id(pk=user.pk)) == _state(user_queryset().get(pk=user.pk))
    assert user_with_credit(pk=debtor.pk).outstanding_amount == 90001 - 22500
    assert user_with_credit(pk=unknown) is None and user_by_id(pk=unknown) is None


def test_a_plan_and_its_installments_are_read_as_the_prefetch_reads_them(django_assert_num_queries):
    merchant = MerchantFactory.create()
    plan = make_plan(merchant=merchant, total_amount="100.01", installment_count=12,
                     start_date=timezone.localdate() - timedelta(days=40))
    for key in _keys(merchant):
        expected = plans_visible_to(api_key=key).filter(pk=plan.pk).first()
        with django_assert_num_queries(2 if expected is not None else 1):
            got = plan_visible_to(api_key=key, pk=plan.pk)
        if expected is None:
            assert got is None
            continue
        assert got is not None and _state(got) == _state(expected)
        with django_assert_num_queries(0):
            shown = list(got.installments.all())
            assert all(i.plan is got for i in shown)  # the forward cache, as the prefetch sets it
        assert [_state(i) for i in shown] == [_state(i) for i in expected.installments.all()]
        assert [i.sequence for i in shown] == list(range(1, 13))
    # A filter on the prefetched relation still queries, and only this plan's installments.
    other = make_plan(merchant=merchant)
    got = plan_visible_to(api_key=ApiKey(role=Role.CLIENT), pk=plan.pk)
    assert got is not None
    assert set(got.installments.filter(sequence=1).values_list("plan_id", flat=True)) == {plan.pk} != {other.pk}


def test_open_installments_are_the_orm_rows_in_allocation_order():
    user = CustomerFactory.create()
    make_plan(user=user, total_amount="120.00")
    make_plan(user=user, total_amount="300.00", start_date=timezone.localdate() - timedelta(days=70))  # overdue: last
    rows = open_installments(user_id=user.pk)
    expected = {i.pk: i for i in Installment.objects.filter(user=user, status__in=("UPCOMING", "OVERDUE"))}
    assert {i.pk for i in rows} == set(expected) and len(rows) == 6
    plans = {p.pk: p.created_at for p in Plan.objects.filter(user=user)}
    for installment in rows:
        assert _state(installment, "plan_created_at") == {**_state(expected[installment.pk]),
                                                         "plan_created_at": plans[installment.plan_id]}


def test_a_malformed_id_is_refused_as_a_filter_refuses_it_and_queries_nothing():
    with CaptureQueriesContext(connection) as queries, pytest.raises(ValidationError):
        user_with_credit(pk="not-a-uuid")
    assert len(queries) == 0


def test_the_statement_is_built_once_and_its_values_prepared_per_call():
    first, second = CustomerFactory.create(), CustomerFactory.create()
    prepared = PreparedQuery(lambda pk: user_queryset().filter(pk=pk), pk=Customer._meta.pk)
    sql_a, params_a = prepared.statement(pk=first.pk)
    sql_b, params_b = prepared.statement(pk=str(second.pk))  # a string id is prepared as the field would
    assert sql_a == sql_b and params_a != params_b
    assert params_b == [Customer._meta.pk.get_db_prep_value(second.pk, connection)]
    assert prepared.get(pk=str(second.pk)).pk == second.pk


def test_a_queryset_that_cannot_be_prepared_is_refused_when_compiled():
    with pytest.raises(ValueError, match="select_related"):
        PreparedQuery(lambda pk: Plan.objects.select_related("user").filter(pk=pk), pk=Plan._meta.pk).compile()
    with pytest.raises(ValueError, match="slots not in the statement"):
        PreparedQuery(lambda pk: Plan.objects.all(), pk=Plan._meta.pk).compile()
    with pytest.raises(Plan.MultipleObjectsReturned):
        make_plan(), make_plan()
        PreparedQuery(lambda pk: Plan.objects.exclude(pk=pk), pk=Plan._meta.pk).get(pk=uuid.uuid4())


def test_a_wrapped_statement_answers_its_own_rows_with_the_slots_values():
    first, second = CustomerFactory.create(full_name="First"), CustomerFactory.create(full_name="Second")
    rows = PreparedRows(lambda status: user_queryset().filter(status=status).order_by("full_name"),
                        wrap=lambda sql: f"SELECT page.full_name, upper(page.full_name) FROM ({sql}) page "  # noqa: S608
                                         "ORDER BY page.full_name DESC",
                        status=Customer._meta.get_field("status"))
    Customer.objects.filter(pk=second.pk).update(status="DEBT_USER")
    assert [tuple(row) for row in rows.rows(status="NORMAL")] == [("First", "FIRST")]
    assert [tuple(row) for row in rows.rows(status="DEBT_USER")] == [("Second", "SECOND")]
    with pytest.raises(TypeError):
        rows.fetch(status="NORMAL")  # its rows are not the model's
    assert first.pk != second.pk


def test_a_wrapping_may_not_add_a_parameter():
    wraps_a_percent = PreparedRows(lambda pk: user_queryset().filter(pk=pk),
                                   wrap=lambda sql: f"SELECT count(*) FROM ({sql}) page WHERE 'a' LIKE '%%'",  # noqa: S608
                                   pk=Customer._meta.pk)
    with pytest.raises(AssertionError, match="adds no parameter"):
        wraps_a_percent.compile()


@pytest.mark.parametrize("path", ["/api/v1/merchants/{}/", "/api/v1/users/{}/", "/api/v1/plans/{}/",
                                  "/api/v1/debt/{}/"])
def test_the_detail_reads_answer_404_to_a_malformed_or_unknown_id(client_api, path):
    for pk in ("not-a-uuid", uuid.uuid4()):
        response = client_api.get(path.format(pk))
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"


def test_a_merchant_key_cannot_read_another_merchants_plan_or_merchant(make_api):
    mine, theirs = MerchantFactory.create(), MerchantFactory.create()
    plan = make_plan(merchant=theirs)
    api = make_api(Role.MERCHANT, merchant=mine)
    assert api.get(f"/api/v1/plans/{plan.pk}/").status_code == 404
    assert api.get(f"/api/v1/merchants/{theirs.pk}/").status_code == 404
    assert api.get(f"/api/v1/merchants/{mine.pk}/").json()["id"] == str(mine.pk)


def test_a_queryset_built_once_hands_out_independent_clones_and_keeps_no_rows():
    from users.selectors import users_with_credit

    first = CustomerFactory.create()
    a, b = users_with_credit(), users_with_credit()
    assert a is not b and a.query is not b.query
    assert [u.pk for u in a.filter(pk=first.pk)] == [first.pk]
    later = CustomerFactory.create()  # created after a clone was evaluated: the next clone sees it
    assert {u.pk for u in users_with_credit()} == {first.pk, later.pk}
    assert list(b.filter(pk=later.pk)) != [] and b._result_cache is None  # b itself never evaluated


def test_the_prepared_locks_lock_and_answer_as_get():
    from django.db import transaction

    from plans.locks import plan_lock
    from users.locks import user_lock

    plan = make_plan()
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            locked_user, locked_plan = user_lock(plan.user_id), plan_lock(plan.pk)
        assert _state(locked_user) == _state(Customer.objects.defer(*Customer.ENCRYPTED_FIELDS).get(pk=plan.user_id))
        assert _state(locked_plan) == _state(Plan.objects.get(pk=plan.pk))
        with pytest.raises(Customer.DoesNotExist, match="Customer matching query does not exist"):
            user_lock(uuid.uuid4())
        with pytest.raises(Plan.DoesNotExist):
            plan_lock(uuid.uuid4())
    if connection.features.has_select_for_update:
        assert len(queries) == 2 and all(statement_run(q["sql"]).endswith("FOR UPDATE")
                                       for q in queries.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_a_prepared_lock_outside_a_transaction_is_refused_as_the_orm_refuses_it():
    from django.db.transaction import TransactionManagementError

    from users.locks import user_lock

    user = CustomerFactory.create()
    if connection.features.has_select_for_update:  # PostgreSQL
        with pytest.raises(TransactionManagementError):
            list(Customer.objects.select_for_update().filter(pk=user.pk))
        with pytest.raises(TransactionManagementError):
            user_lock(user.pk)
    else:  # SQLite: no FOR UPDATE, and Django does not refuse it there either
        assert user_lock(user.pk).pk == user.pk


def test_a_refund_finds_its_plan_only_within_the_callers_reach():
    from refunds.selectors import plan_for_refund

    merchant = MerchantFactory.create()
    plan = make_plan(merchant=merchant)
    for key in _keys(merchant):
        expected = Plan.objects.filter(pk=plan.pk, **({"merchant_id": key.merchant_id} if key.merchant_id else {}))
        got = plan_for_refund(api_key=key, plan_id=plan.pk)
        assert (got and _state(got)) == (expected.first() and _state(expected.first()))


def test_a_repayments_prepared_locks_take_what_the_orm_locks_take():
    """``open_installments_lock`` is ``plans_lock`` and ``installments_lock`` over the user's open
    installments: the same plans and installments, in id order, with every column, each a FOR UPDATE."""
    from django.db import transaction
    from django.db.models import Subquery

    from debt.services import repayment_apply
    from plans.locks import installments_lock, open_installments_lock, plans_lock
    from plans.models import OPEN_STATUSES

    user = CustomerFactory.create()
    first, second = make_plan(user=user), make_plan(user=user, installment_count=4)
    make_plan(user=user, installment_count=3, total_amount="30.00")
    paid_off = make_plan(user=user)
    make_plan()  # another customer's
    repayment_apply(user=user, installment_ids=[i.pk for i in first.installments.all()[:1]])
    repayment_apply(user=user, installment_ids=[i.pk for i in paid_off.installments.all()])
    targets = Installment.objects.filter(user=user, status__in=OPEN_STATUSES)
    with transaction.atomic():
        expected_plans, expected = plans_lock(Subquery(targets.values("plan_id"))), installments_lock(targets)
        with CaptureQueriesContext(connection) as queries:
            plans, installments = open_installments_lock(user.pk)
    assert len(expected) == 2 + 4 + 3 and len(expected_plans) == 3 and paid_off.pk not in expected_plans
    assert list(plans) == list(expected_plans) == sorted(expected_plans)
    assert [_state(p) for p in plans.values()] == [_state(p) for p in expected_plans.values()]
    assert [_state(i) for i in installments] == [_state(i) for i in expected]
    assert [i.pk for i in installments] == sorted(i.pk for i in installments) and second.pk in plans
    if connection.features.has_select_for_update:
        assert len(queries) == 2 and all(statement_run(q["sql"]).endswith("FOR UPDATE")
                                       for q in queries.captured_queries)
    with transaction.atomic():
        assert open_installments_lock(uuid.uuid4()) == ({}, [])


def test_a_refund_request_reads_the_transaction_and_the_reserving_refunds_as_the_orm_reads_them():
    """``transaction_or_reserving``: the merchant's refund with that transaction id (on any of its
    plans, in any status) and the plan's PENDING and APPROVED refunds; nothing else."""
    from django.db.models import Q

    from refunds.models import Refund
    from refunds.selectors import RESERVING_STATUSES, transaction_or_reserving
    from refunds.services import refund_approve, refund_reject
    from refunds.tests.factories import make_refund

    merchant = MerchantFactory.create()
    plan, other_plan = make_plan(merchant=merchant), make_plan(merchant=merchant)
    pending, approved, rejected = (make_refund(plan=plan, amount="10.00") for _ in range(3))
    refund_approve(refund=approved, decided_by="merchant")
    refund_reject(refund=rejected, decided_by="merchant", reason="")
    same_transaction = make_refund(plan=other_plan, amount="5.00", transaction_id="txn-shared")
    make_refund(plan=other_plan, amount="5.00")  # another plan's reserving refund
    make_refund(plan=make_plan(), amount="5.00", transaction_id="txn-shared")  # another merchant's

    def orm(transaction_id: str) -> list[Refund]:
        return list(Refund.objects.filter(Q(merchant_id=merchant.pk, transaction_id=transaction_id)
                                          | Q(plan=plan, status__in=RESERVING_STATUSES)))

    for transaction_id, expected in (("txn-shared", {pending, approved, same_transaction}),
                                     ("txn-new", {pending, approved})):
        got = transaction_or_reserving(merchant_id=merchant.pk, transaction_id=transaction_id, plan_id=plan.pk)
        assert {r.pk for r in got} == {r.pk for r in expected}
        assert sorted(map(_state, got), key=lambda s: s["loaded"]["id"]) == \
            sorted(map(_state, orm(transaction_id)), key=lambda s: s["loaded"]["id"])
