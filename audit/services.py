"""The only writer of status history: called by each service that changes a status, inside its transaction."""
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from django.db import transaction

from audit.models import AuditEvent
from bnpl.actor import current_actor, current_request_id
from bnpl.bulk import bulk_insert


@dataclass(frozen=True)
class StatusChange:
    object_type: str
    object_id: UUID
    old: str
    new: str
    field: str = "status"


def status_changes_record(*, changes: Iterable[StatusChange]) -> int:
    """One INSERT for every real change (old != new) in ``changes``; the caller's transaction."""
    rows = [c for c in changes if c.old != c.new]
    if not rows:
        return 0
    assert transaction.get_connection().in_atomic_block, "status history is written with the change"
    actor, request_id = current_actor(), current_request_id()
    bulk_insert(AuditEvent, [
        AuditEvent(object_type=c.object_type, object_id=c.object_id, field=c.field, old=c.old or "", new=c.new,
                   actor_type=actor.type, actor_name=actor.name, request_id=request_id)
        for c in rows])
    return len(rows)


def status_change_record(*, object_type: str, object_id: UUID, old: str, new: str) -> int:
    return status_changes_record(changes=[StatusChange(object_type, object_id, old, new)])
