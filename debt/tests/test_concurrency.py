"""Real concurrency on PostgreSQL: threads with their own connections racing repayments, plans and sweeps."""
import threading
import time
from collections import Counter
from datetime import date, timedelta

import pytest
from django.db import connection, connections

from bnpl.errors import InvalidState, UserInDebt
from bnpl.models import Role
from bnpl.testing.concurrency import race_each
from bnpl.testing.db import held_transaction
from debt.models import Repayment, SweepRun
from debt.services import SWEEP_LOCK_ID, RepaymentResult, repayment_apply, sweep_overdue
from merchants.tests.factories import MerchantFactory
from plans.models import Installment, InstallmentStatus, Plan
from plans.services import plan_create
from plans.tests.factories import make_plan, minor
from users.models import Customer, UserStatus
from users.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = date(2025, 3, 15)


@pytest.fixture
def today(business_day):
    return business_day(TODAY)


def test_twenty_repayments_of_one_installment_pay_it_once(make_api, today):
    user = CustomerFactory()
    plan = make_plan(user=user, start_date=TODAY - timedelta(days=40))
    first = plan.installments.get(sequence=1)
    api = make_api(Role.CLIENT)
    url = f"/api/v1/debt/{user.pk}/"

    def repay():
        r = api.post(url, {"installment_ids": [str(first.pk)]})
        return r.status_code, r.json().get("code")

    results = race_each(*[repay] * 20)
    assert Counter(results) == {(201, None): 1, (409, "invalid_state"): 19}, results
    first.refresh_from_db()
    assert first.paid_amount == first.amount and first.status == InstallmentStatus.PAID
    assert Repayment.objects.count() == 1
    assert Plan.objects.get(pk=plan.pk).paid_amount == first.amount
    assert Customer.objects.get(pk=user.pk).status == UserStatus.NORMAL


def test_amount_repayments_racing_never_overpay(today):
    user = CustomerFactory()
    plan = make_plan(user=user, total_amount="300.00", start_date=TODAY - timedelta(days=40))
    results = race_each(*[lambda: repayment_apply(user=user, amount=plan.total_amount // 3)] * 6)
    assert sum(isinstance(r, RepaymentResult) for r in results) == 3  # 300.00 owed, 100.00 each
    assert all(isinstance(r, RepaymentResult) or r.attr == "amount" for r in results)
    plan.refresh_from_db()
    assert plan.paid_amount == plan.total_amount and plan.status == "COMPLETED"


@pytest.mark.parametrize("swept_before", [True, False], ids=["marked-overdue", "past-due-unswept"])
def test_sweep_racing_the_repayment_of_the_last_overdue_installment(today, swept_before):
    """Many rounds: however they interleave, the user ends NORMAL with the installment PAID."""
    for _round in range(8):
        users, firsts = [], []
        for _ in range(4):
            user = CustomerFactory()
            plan = make_plan(user=user, start_date=TODAY - timedelta(days=20))  # first due in 11 days
            first = plan.installments.get(sequence=1)
            Installment.objects.filter(pk=first.pk).update(due_date=TODAY - timedelta(days=1))
            if swept_before:
                sweep_overdue()
                assert Customer.objects.get(pk=user.pk).status == UserStatus.DEBT_USER
            users.append(user)
            firsts.append(first)
        repayments = [lambda u=u, i=i: repayment_apply(user=u, installment_ids=[i.pk]) for u, i in zip(
            users, firsts, strict=True)]
        results = race_each(sweep_overdue, *repayments, sweep_overdue)
        assert not [r for r in results if isinstance(r, Exception)], results
        for user, first in zip(users, firsts, strict=True):
            assert Installment.objects.get(pk=first.pk).status == InstallmentStatus.PAID
            assert Customer.objects.get(pk=user.pk).status == UserStatus.NORMAL
    # A sweep afterwards has nothing to correct: nothing was left inconsistent.
    result = sweep_overdue()
    assert (result["users_marked_debt"], result["users_restored"]) == (0, 0)


def test_two_sweeps_at_once_change_the_data_once(today):
    for _round in range(5):
        users = [CustomerFactory() for _ in range(5)]
        for user in users:
            plan = make_plan(user=user, start_date=TODAY)
            Installment.objects.filter(plan=plan).update(due_date=TODAY - timedelta(days=1))
        results = race_each(lambda: sweep_overdue(chunk_size=2), lambda: sweep_overdue(chunk_size=2))
        assert not [r for r in results if isinstance(r, Exception)], results
        done = [r for r in results if not r["skipped"]]
        assert sum(r["installments_marked_overdue"] for r in done) == 15
        assert sum(r["users_marked_debt"] for r in done) == 5
        assert all(Customer.objects.get(pk=u.pk).status == UserStatus.DEBT_USER for u in users)
    assert not Installment.objects.filter(status="UPCOMING", due_date__lt=TODAY).exists()


def test_a_sweep_while_another_holds_the_lock_is_skipped_and_recorded(today):
    plan = make_plan(start_date=TODAY)
    Installment.objects.filter(plan=plan).update(due_date=TODAY - timedelta(days=1))
    holding, release = threading.Event(), threading.Event()

    def other_sweep():
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [SWEEP_LOCK_ID])
            holding.set()
            release.wait(30)
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SWEEP_LOCK_ID])
        connection.close()

    thread = threading.Thread(target=other_sweep)
    thread.start()
    assert holding.wait(30)
    try:
        assert sweep_overdue() == {"skipped": True, "cutoff_date": TODAY.isoformat()}
        assert SweepRun.objects.get().skipped is True
        assert Installment.objects.filter(plan=plan, status="UPCOMING").count() == 3
    finally:
        release.set()
        thread.join(30)
    assert sweep_overdue()["installments_marked_overdue"] == 3


def test_plan_creation_racing_a_sweep_is_refused_and_the_user_is_in_debt(today):
    merchant = MerchantFactory()
    for _round in range(8):
        user = CustomerFactory()
        old = make_plan(user=user, merchant=merchant, start_date=TODAY)
        Installment.objects.filter(plan=old, sequence=1).update(due_date=TODAY - timedelta(days=1))
        assert Customer.objects.get(pk=user.pk).status == UserStatus.NORMAL

        def create(user=user):
            return plan_create(user=user, merchant=merchant, total_amount=minor("1000.00"), installment_count=3)

        results = race_each(create, sweep_overdue)
        assert isinstance(results[0].refusal, UserInDebt) and results[0].plan is None, results
        assert not isinstance(results[1], Exception), results
        assert Customer.objects.get(pk=user.pk).status == UserStatus.DEBT_USER
        assert Plan.objects.filter(user=user).count() == 1


def test_mixed_load_never_deadlocks(today):
    """Repayments, plan creations and sweeps over the same users at once all finish."""
    merchant = MerchantFactory()
    users = [CustomerFactory() for _ in range(4)]
    for user in users:
        for _ in range(2):
            make_plan(user=user, merchant=merchant, start_date=TODAY)
    Installment.objects.filter(sequence=1).update(due_date=TODAY - timedelta(days=1))
    work = []
    for user in users:
        work.append(lambda u=user: repayment_apply(user=u, amount=Installment.objects.filter(
            user=u, sequence=1).first().amount))
        work.append(lambda u=user: plan_create(user=u, merchant=merchant, total_amount=minor("1000.00"),
                                               installment_count=3))
        work.append(sweep_overdue)
    results = race_each(*work)
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, InvalidState)]
    assert not unexpected, unexpected
    for user in users:
        overdue = Installment.objects.filter(user=user, status="OVERDUE").exists()
        assert Customer.objects.get(pk=user.pk).status == (UserStatus.DEBT_USER if overdue else UserStatus.NORMAL)


def test_a_sweep_never_waits_on_an_installment_a_repayment_holds(today):
    """The plain-UPDATE chunk times out on the held row and is redone with SKIP LOCKED."""
    merchant = MerchantFactory()
    held_user, free_user = CustomerFactory(), CustomerFactory()
    for user in (held_user, free_user):
        plan = make_plan(user=user, merchant=merchant, start_date=TODAY)
        Installment.objects.filter(plan=plan, sequence=1).update(due_date=TODAY - timedelta(days=1))
    held = Installment.objects.get(user=held_user, sequence=1)

    def lock_like_a_repayment():
        Customer.objects.select_for_update().get(pk=held_user.pk)
        return Installment.objects.select_for_update().get(pk=held.pk)

    with held_transaction(lock_like_a_repayment):
        started = time.monotonic()
        result = sweep_overdue()
        assert time.monotonic() - started < 5
        # The free user's installment is marked; the held one is skipped, not waited for.
        assert result["installments_marked_overdue"] == 1
        assert Installment.objects.get(user=free_user, sequence=1).status == InstallmentStatus.OVERDUE
        assert Installment.objects.get(pk=held.pk).status == InstallmentStatus.UPCOMING
    # Once the lock is gone, the next run picks it up.
    assert sweep_overdue()["installments_marked_overdue"] == 1
    assert Installment.objects.get(pk=held.pk).status == InstallmentStatus.OVERDUE
    assert Customer.objects.get(pk=held_user.pk).status == UserStatus.DEBT_USER


def test_a_fee_step_is_assessed_once_across_concurrent_sweeps(settings, today):
    """Three fee passes at once (each bypassing the sweep's advisory lock, so only the unique
    (installment, step) constraint and the row locks stand between them) and a whole sweep, three
    rounds: every step of every installment assessed once, journalled once, the books equal."""
    from decimal import Decimal

    from ledger.models import JournalTransaction, Kind
    from ledger.reconcile import reconcile
    from plans.installments import fees_sweep
    from plans.models import LateFee

    settings.BNPL_LATE_FEES = ((1, Decimal("10000.00")), (8, Decimal("7000.00")))
    for _ in range(6):
        plan = make_plan(user=CustomerFactory(), total_amount="1200000.00", start_date=TODAY)
        Installment.objects.filter(plan=plan, sequence__lte=2).update(due_date=TODAY - timedelta(days=10),
                                                                        status=InstallmentStatus.OVERDUE)
    for _round in range(3):
        results = race_each(*[lambda: fees_sweep(today=TODAY, cutoff=TODAY, chunk_size=3)] * 3,
                            lambda: sweep_overdue(chunk_size=3))
        assert not [r for r in results if isinstance(r, Exception)], results
    # 6 plans x 2 installments x 2 steps, each once; 1,200,000.00 at 25 % never binds.
    assert LateFee.objects.count() == 24
    assert set(Installment.objects.filter(sequence__lte=2).values_list("fee_amount", flat=True)) == {
        minor("17000.00")}
    assert set(Plan.objects.values_list("fee_amount", flat=True)) == {minor("34000.00")}
    assert JournalTransaction.objects.filter(kind=Kind.FEE_ASSESSED).count() == 24
    assert reconcile()["mismatch_count"] == 0


def test_the_fee_pass_never_waits_on_a_user_a_repayment_holds(settings, today):
    """A repayment locks the user first, then the plans: a fee pass holding a plan must never wait
    for that user (the fee row names the user without a foreign key, so its INSERT takes no lock
    on the user row), or the two would deadlock."""
    from decimal import Decimal

    from plans.installments import fees_sweep
    from plans.models import LateFee

    settings.BNPL_LATE_FEES = ((1, Decimal("10000.00")),)
    user = CustomerFactory()
    plan = make_plan(user=user, total_amount="1200000.00", start_date=TODAY)
    Installment.objects.filter(plan=plan, sequence=1).update(due_date=TODAY - timedelta(days=3),
                                                             status=InstallmentStatus.OVERDUE)
    with held_transaction(lambda: Customer.objects.select_for_update().get(pk=user.pk)):
        started = time.monotonic()
        assert fees_sweep(today=TODAY, cutoff=TODAY, chunk_size=10) == {"fees_assessed": 1}
        assert time.monotonic() - started < 5
    assert LateFee.objects.get().user_id == user.pk
