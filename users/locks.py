"""Row locks on customers: the first lock of every write (lock order: user -> plans (by id) ->
installments (by id) -> refund -> payout), taken only through here."""
from uuid import UUID

from bnpl.prepared import PreparedQuery
from users.models import Customer
from users.selectors import user_queryset

_LOCK = PreparedQuery(lambda pk: user_queryset().select_for_update().filter(pk=pk), pk=Customer._meta.pk)


def user_lock(user_id: UUID) -> Customer:
    """Lock the user's row (``FOR UPDATE``) and load it without its encrypted fields, so no
    personal data is ever decrypted while the lock is held (the masks and status are loaded).
    The first statement of every write: prepared (``bnpl.prepared``), ``Customer.DoesNotExist`` as ``get``."""
    return _LOCK.one(pk=user_id)
