"""The only writers of refunds.

Every path that creates or decides a refund (API, admin, the merchant webhook task)
calls these functions. Lock order, as everywhere: user -> plan -> installments (by id)
-> refund. Every change to the set of PENDING/APPROVED refunds of a plan happens under
the plan's row lock, so the refundable amount read under that lock is exact.

Returns pause collection (API.md §13): every change to a plan's PENDING refunds sets the plan's
pause (``_collection_pause_refresh``) and applies the overdue rule to the user at once
(``debt_status_refresh``), so the user's status follows the moment a refund is opened or decided.
"""

from django.db import transaction
from django.db.models import Max

from audit.models import ObjectType
from audit.services import status_change_record
from bnpl import dates
from bnpl.bulk import bulk_insert
from bnpl.errors import DuplicateTransaction, InvalidState, RefundExceedsRefundable
from bnpl.money import format_minor
from debt.services import debt_status_refresh
from events.services import event_record
from ledger.services import journal_refund
from plans.installments import collection_pause_set, collection_pause_until, installments_settle, refund_allocation
from plans.locks import installments_lock, plan_lock
from plans.models import Installment, Plan, PlanStatus
from refunds.locks import refund_lock
from refunds.models import REFUND_TRANSITIONS, Refund, RefundStatus
from refunds.selectors import RESERVING_STATUSES, transaction_or_reserving
from users.locks import user_lock

REFUNDABLE_PLAN_STATUSES = (PlanStatus.ACTIVE, PlanStatus.COMPLETED)


def refund_create(*, plan: Plan, transaction_id: str, amount: int, reason: str = "") -> tuple[Refund, bool]:
    """Open a PENDING refund on ``plan``; returns ``(refund, created)``.

    ``transaction_id`` is the merchant's reference, unique per merchant (the plan's): the same
    one with the same plan and amount returns the existing refund whatever its status
    (``created`` False); with another plan or amount it is ``DuplicateTransaction``.
    The amount may not exceed the plan total minus its PENDING and APPROVED refunds.
    """
    with transaction.atomic():
        # The user's lock first, as everywhere (user -> plan). The refund row references the user,
        # so its COMMIT takes a KEY SHARE lock on the user's row (the foreign key check); holding
        # the plan's lock without the user's, that waits on a repayment which holds the user FOR
        # UPDATE and waits for this plan: a deadlock (found by bnpl/tests/test_race_suite.py).
        user = user_lock(plan.user_id)
        plan = plan_lock(plan.pk)
        rows = transaction_or_reserving(merchant_id=plan.merchant_id, transaction_id=transaction_id, plan_id=plan.pk)
        existing = next((r for r in rows if r.merchant_id == plan.merchant_id and r.transaction_id == transaction_id),
                        None)
        if existing is not None:
            return _same_transaction(existing, plan=plan, amount=amount), False
        if plan.status not in REFUNDABLE_PLAN_STATUSES:
            # A checkout was never owed (API.md §7 v1.1): nothing to refund.
            raise InvalidState(f"Refunds are opened on ACTIVE or COMPLETED plans only; this plan is "
                               f"{plan.current_status()}.")
        reserved = sum(r.amount for r in rows if r.plan_id == plan.pk and r.status in RESERVING_STATUSES)
        if amount > plan.total_amount - reserved:
            raise RefundExceedsRefundable(
                f"At most {format_minor(plan.total_amount - reserved)} is still refundable on this plan.")
        refund = Refund(plan=plan, user_id=plan.user_id, merchant_id=plan.merchant_id,
                        transaction_id=transaction_id, amount=amount, reason=reason)
        if not bulk_insert(Refund, [refund], skip_conflicts=True):
            # The same transaction_id committed meanwhile on another plan of this merchant (the
            # plan lock does not serialise those): the unique constraint decided, read it.
            this_transaction = Refund.objects.get(merchant_id=plan.merchant_id, transaction_id=transaction_id)
            return _same_transaction(this_transaction, plan=plan, amount=amount), False
        event_record(type="refund.created", obj=refund, merchant_id=refund.merchant_id)
        # The pause starts now (this refund is the plan's latest pending one): an installment of this
        # plan overdue a moment ago is not any more, and the user's status follows at once.
        until = collection_pause_until(opened_on=dates.business_date(refund.created_at))
        if collection_pause_set(plan_id=plan.pk, until=until):
            debt_status_refresh(user=user)
    return refund, True


def _collection_pause_set(*, plan: Plan, deciding: Refund | None = None,
                          installments: list[Installment] | None = None) -> bool:
    """Pause the plan's collection while it has a PENDING refund (besides ``deciding``, the one being
    decided now), for ``BNPL_RETURN_PAUSE_DAYS`` from the latest one's creation day. The caller holds
    the user's and the plan's locks and, when this returns True, applies the overdue rule after
    (``debt_status_refresh``). ``installments``: the caller's locked rows of the plan, which follow
    in memory."""
    pending = Refund.objects.filter(plan_id=plan.pk, status=RefundStatus.PENDING)
    if deciding is not None:
        pending = pending.exclude(pk=deciding.pk)
    latest = pending.aggregate(latest=Max("created_at"))["latest"]
    until = collection_pause_until(opened_on=None if latest is None else dates.business_date(latest))
    return collection_pause_set(plan_id=plan.pk, until=until, installments=installments or ())


def _same_transaction(existing: Refund, *, plan: Plan, amount: int) -> Refund:
    if existing.plan_id != plan.pk or existing.amount != amount:
        raise DuplicateTransaction()
    return existing


def _check_transition(refund: Refund, to: str) -> None:
    """The one place that applies ``REFUND_TRANSITIONS``."""
    if to not in REFUND_TRANSITIONS[refund.status]:
        raise InvalidState(f"The refund is already {refund.status}.")


def refund_approve(*, refund: Refund, decided_by: str) -> Refund:
    """Approve a PENDING refund and apply it to its plan in the order of ``BNPL_REFUND_ALLOCATION``
    (``plans.installments.refund_allocation``: last installment first by default).

    Each installment's outstanding amount is reduced by up to what is left of the refund;
    ``applied_amount`` is the total reduction and ``payout_amount`` the rest (the customer
    had already paid it and is owed it back). Installments settle to CANCELLED/PAID, the
    plan to COMPLETED when nothing is outstanding, and the user's debt status is refreshed.
    """
    with transaction.atomic():
        user = user_lock(refund.user_id)
        plan = plan_lock(refund.plan_id)
        installments = installments_lock(Installment.objects.filter(plan_id=refund.plan_id))
        refund = refund_lock(refund.pk)
        _check_transition(refund, RefundStatus.APPROVED)

        # The decision ends this refund's pause first: what is overdue, for the allocation and the
        # user's status, is what the rule says once it is decided.
        _collection_pause_set(plan=plan, deciding=refund, installments=installments)
        parts = refund_allocation(installments=installments, amount=refund.amount)
        for installment, reduction in parts:
            installment.refunded_amount += reduction
        changed = [installment for installment, _ in parts]
        remaining = refund.amount - sum(reduction for _, reduction in parts)
        now = dates.now()
        refund.status = RefundStatus.APPROVED
        refund.applied_amount = refund.amount - remaining
        refund.payout_amount = remaining
        # The journal (refund_applied per installment, refund_payout for the rest) and the payout,
        # from the plan as it stood before; the allocations shown on the refund are these lines.
        journal_refund(refund=refund, parts=parts, plan=plan)
        if changed:
            # paid_at stays the last customer payment's
            installments_settle(installments=changed, plans_before={plan.pk: plan.status})
        debt_status_refresh(user=user)

        refund.decided_by = decided_by
        refund.decided_at = now
        refund.save(update_fields=["status", "applied_amount", "payout_amount", "decided_by", "decided_at"])
        status_change_record(object_type=ObjectType.REFUND, object_id=refund.pk, old=RefundStatus.PENDING,
                             new=refund.status)
        event_record(type="refund.approved", obj=refund, merchant_id=refund.merchant_id)
    return refund


def _decide_without_effect(*, refund: Refund, to: str, decided_by: str, reason: str) -> Refund:
    with transaction.atomic():
        # The plan lock too: the set of reserving refunds only changes under it (see refund_create);
        # the user's first, as everywhere, because the decision ends the plan's pause (API.md §13)
        # and the user's status follows at once.
        user = user_lock(refund.user_id)
        plan = plan_lock(refund.plan_id)
        refund = refund_lock(refund.pk)
        _check_transition(refund, to)
        refund.status = to
        refund.decided_by = decided_by
        refund.decided_at = dates.now()
        refund.decision_reason = reason
        refund.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        status_change_record(object_type=ObjectType.REFUND, object_id=refund.pk, old=RefundStatus.PENDING, new=to)
        event_record(type=f"refund.{to.lower()}", obj=refund, merchant_id=refund.merchant_id)
        if _collection_pause_set(plan=plan):  # the pause may have ended: the user's status follows at once
            debt_status_refresh(user=user)
    return refund


def refund_reject(*, refund: Refund, decided_by: str, reason: str = "") -> Refund:
    """The merchant (or an operator) refuses a PENDING refund; the plan is untouched."""
    return _decide_without_effect(refund=refund, to=RefundStatus.REJECTED, decided_by=decided_by, reason=reason)


def refund_cancel(*, refund: Refund, decided_by: str, reason: str = "") -> Refund:
    """The provider (client app or operator) withdraws a PENDING refund; the plan is untouched."""
    return _decide_without_effect(refund=refund, to=RefundStatus.CANCELLED, decided_by=decided_by, reason=reason)
