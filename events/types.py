"""The event types of API.md §14, who may see each, and the resource each one carries.

``events`` sits low in the dependency order: it knows the types but not the objects. Each
higher app registers, in its ``AppConfig.ready()``, a *representer* for the object types it
owns: a function from one of its objects to the resource as the API shows it (its own
serializer). A service then calls ``events.services.event_record(type=..., obj=...)`` inside
its own transaction and the event carries that representation, taken at that moment.
"""
from collections.abc import Callable
from importlib import import_module
from typing import Any

from bnpl.serializers import compiled

# type -> the object type whose representer builds its ``data``.
EVENT_TYPES: dict[str, str] = {
    "plan.created": "plan",
    "plan.confirmed": "plan",
    "plan.declined": "plan",
    "plan.expired": "plan",
    "plan.completed": "plan",
    "installment.overdue": "installment",
    "installment.paid": "installment",
    "repayment.created": "repayment",
    "repayment.reversed": "repayment_reversal",
    "refund.created": "refund",
    "refund.approved": "refund",
    "refund.rejected": "refund",
    "refund.cancelled": "refund",
    "payout.status_changed": "payout",
    "fee.assessed": "fee",
    "user.status_changed": "user",
}

# Never shown to a merchant (API.md §14: never ``user.status_changed``; repayments are a user's
# debt, which a merchant may not read, API.md §1). These events are recorded without a merchant.
CLIENT_ONLY_TYPES = frozenset({"user.status_changed", "repayment.created", "repayment.reversed"})
MERCHANT_TYPES = tuple(t for t in EVENT_TYPES if t not in CLIENT_ONLY_TYPES)

Representer = Callable[[Any], dict]
_representers: dict[str, Representer] = {}


def register_representer(object_type: str, representer: Representer) -> None:
    """Called from a higher app's ``AppConfig.ready()``. Registering twice replaces (autoreload)."""
    _representers[object_type] = representer


def represent(event_type: str, obj: Any) -> dict:
    try:
        object_type = EVENT_TYPES[event_type]
    except KeyError:
        raise ValueError(f"unknown event type {event_type!r}") from None
    try:
        representer = _representers[object_type]
    except KeyError:
        raise LookupError(f"no representer registered for {object_type!r} (event {event_type})") from None
    return representer(obj)


def registered_object_types() -> frozenset[str]:
    return frozenset(_representers)


def serializer_representer(path: str, **extra: Callable[[Any], Any]) -> Representer:
    """A representer from a DRF serializer class (``"plans.api.PlanSerializer"``), plus ``extra``
    fields computed from the object.

    One serializer instance is built on first use and kept: building a serializer's fields costs
    far more than rendering an object with them, and a write may record dozens of events.
    ``to_representation`` keeps no state on the instance, so threads may share it.
    """
    render: Callable[[Any], dict] | None = None

    def represent_one(obj: Any) -> dict:
        nonlocal render
        if render is None:
            module, _, name = path.rpartition(".")
            render = compiled(getattr(import_module(module), name)())
        data = render(obj)
        for key, compute in extra.items():
            data[key] = compute(obj)
        return data

    return represent_one
