"""Role-based access, declared per view action (API.md §1).

A view says which roles may run each action::

    roles = {"list": {Role.CLIENT, Role.OPERATOR}, "create": {Role.CLIENT}}

Anything not listed is 403 ``permission_denied``. Objects outside a caller's reach are
hidden by the view's ``get_queryset`` (404), never by this class.
"""
from collections.abc import Callable
from typing import Any, Generic, TypeVar
from uuid import UUID

from django.db.models import Field, Model, QuerySet
from rest_framework.permissions import BasePermission

from bnpl.models import ApiKey, Role
from bnpl.prepared import PreparedQuery

M = TypeVar("M", bound=Model)


def view_action(view) -> str:
    return getattr(view, "action", None) or view.request.method.lower()


class RolePermission(BasePermission):
    message = "Your API key's role may not do this."

    def has_permission(self, request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return False
        if getattr(view, "action_map", None) is not None and view.action is None:
            # No handler for this method on this route: let the view answer 405, not 403.
            return True
        allowed = getattr(view, "roles", {}).get(view_action(view), set())
        return api_key.role in allowed


def merchant_scope(api_key: ApiKey) -> UUID | None:
    """The one merchant whose objects alone ``api_key`` may reach (a ``merchant`` key's own), or
    ``None`` for a key that reaches every merchant's (client, operator). The one scoping rule."""
    return api_key.merchant_id if api_key.role == Role.MERCHANT else None


def scoped_to_caller(queryset: QuerySet[M], api_key: ApiKey, *, merchant_field: str = "merchant_id") -> QuerySet[M]:
    """``queryset`` narrowed to what ``api_key`` may reach (``merchant_scope``)."""
    merchant_id = merchant_scope(api_key)
    return queryset if merchant_id is None else of_merchant(queryset, merchant_id, merchant_field)


def of_merchant(queryset: QuerySet[M], merchant: Any, merchant_field: str) -> QuerySet[M]:
    """``queryset`` narrowed to one merchant's objects (an id, or a prepared statement's slot)."""
    return queryset.filter(**{merchant_field: merchant})


class VisibleById(Generic[M]):
    """One object by id, within ``api_key``'s reach: ``scoped_to_caller(build(), api_key).filter(pk=pk)``
    as two prepared statements (``bnpl.prepared``), one for the keys that reach every merchant and one
    for a merchant key (its merchant a slot). For the detail reads, where building the query cost more
    than running it. ``build`` depends on nothing but the model (the prepared rule)."""

    def __init__(self, model: type[M], build: Callable[[], QuerySet[M]], *, merchant_field: str = "merchant_id"):
        pk = model._meta.pk
        assert pk is not None
        merchant = pk if merchant_field == "pk" else model._meta.get_field(merchant_field)
        assert isinstance(merchant, Field)
        self._any: PreparedQuery[M] = PreparedQuery(lambda pk: build().filter(pk=pk), pk=pk)
        self._scoped: PreparedQuery[M] = PreparedQuery(
            lambda pk, merchant: of_merchant(build(), merchant, merchant_field).filter(pk=pk),
            pk=pk, merchant=merchant)

    def unscoped(self, pk: Any) -> M | None:
        """The object whoever asks (for a service's own look-up, not a caller's read)."""
        return self._any.get(pk=pk)

    def get(self, pk: Any, *, api_key: ApiKey) -> M | None:
        merchant_id = merchant_scope(api_key)
        if merchant_id is None:
            return self._any.get(pk=pk)
        return self._scoped.get(pk=pk, merchant=merchant_id)
