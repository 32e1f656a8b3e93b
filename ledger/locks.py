"""Row locks on payouts: the last in the one lock order (user -> plans (by id) -> installments
(by id) -> refund -> payout). Taken only through here."""
from uuid import UUID

from ledger.models import Payout


def payout_lock(payout_id: UUID) -> Payout:
    return Payout.objects.select_for_update().get(pk=payout_id)
