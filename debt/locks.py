"""Row locks on repayments: after the user, the plans and the installments (the one lock order:
user -> plans (by id) -> installments (by id) -> repayment). Taken only through here."""
from uuid import UUID

from debt.models import Repayment


def repayment_lock(repayment_id: UUID) -> Repayment:
    return Repayment.objects.select_for_update().get(pk=repayment_id)
