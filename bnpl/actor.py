"""Who is acting: the actor recorded on status history (API key, webhook, system task, admin).

A context, not an argument: the services that change a status are called from the API, the
webhook task, the admin and beat tasks, and none of their signatures should grow an "actor"
parameter just for the history. Set it where the caller is known:

- the API-key authentication: :func:`set_request_actor` (tied to the request id, so a value left
  in a worker thread by one request is never attributed to the next);
- a webhook task, an admin action, a management command or beat task: ``with acting_as(...)``.

Anything else is ``system``.
"""
import contextvars
from contextlib import contextmanager
from dataclasses import dataclass

from bnpl.middleware import request_id_var

API_KEY, WEBHOOK, SYSTEM, ADMIN = "api_key", "webhook", "system", "admin"


@dataclass(frozen=True)
class Actor:
    type: str
    name: str


SYSTEM_ACTOR = Actor(SYSTEM, "system")

_explicit: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("bnpl_actor", default=None)
_request: contextvars.ContextVar[tuple[str | None, Actor] | None] = contextvars.ContextVar(
    "bnpl_request_actor", default=None)


@contextmanager
def acting_as(type: str, name: str):  # noqa: A002 - the field is called "type" in the API
    token = _explicit.set(Actor(type, name[:100]))
    try:
        yield
    finally:
        _explicit.reset(token)


def set_request_actor(type: str, name: str) -> None:  # noqa: A002
    """The authenticated caller of the current request (called by the API-key authentication)."""
    _request.set((request_id_var.get(), Actor(type, name[:100])))


def current_actor() -> Actor:
    explicit = _explicit.get()
    if explicit is not None:
        return explicit
    bound = _request.get()
    if bound is not None and bound[0] is not None and bound[0] == request_id_var.get():
        return bound[1]
    return SYSTEM_ACTOR


def current_request_id() -> str:
    return request_id_var.get() or ""
