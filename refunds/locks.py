"""Row locks on refunds: after the user, the plan and its installments (the one lock order:
user -> plans (by id) -> installments (by id) -> refund -> payout). Taken only through here."""
from uuid import UUID

from refunds.models import Refund


def refund_lock(refund_id: UUID) -> Refund:
    return Refund.objects.select_for_update().get(pk=refund_id)
