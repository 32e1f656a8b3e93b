"""Who is in debt: the one rule, used by plan creation, repayments, refunds and the sweep."""
from datetime import date

from django.db import transaction

from bnpl.dates import overdue_cutoff
from plans.models import Installment, InstallmentStatus
from users.models import Customer, UserStatus


def debt_status_refresh(*, user: Customer, today: date | None = None) -> bool:
    """Mark ``user``'s past-due installments ``OVERDUE`` and set their status to match.

    The caller holds the lock on ``user`` (``select_for_update``) inside a transaction.
    Returns True when the user has overdue debt.
    """
    assert transaction.get_connection().in_atomic_block, "debt_status_refresh needs the user's row lock"
    Installment.objects.filter(
        user=user, status=InstallmentStatus.UPCOMING, due_date__lt=overdue_cutoff(today)
    ).update(status=InstallmentStatus.OVERDUE)
    in_debt = Installment.objects.filter(user=user, status=InstallmentStatus.OVERDUE).exists()
    new_status = UserStatus.DEBT_USER if in_debt else UserStatus.NORMAL
    if user.status != new_status:
        user.status = new_status
        Customer.objects.filter(pk=user.pk).update(status=new_status)
    return in_debt
