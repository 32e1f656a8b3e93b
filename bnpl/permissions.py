"""Role-based access, declared per view action (API.md §1).

A view says which roles may run each action::

    roles = {"list": {Role.CLIENT, Role.OPERATOR}, "create": {Role.CLIENT}}

Anything not listed is 403 ``permission_denied``. Objects outside a caller's reach are
hidden by the view's ``get_queryset`` (404), never by this class.
"""
from rest_framework.permissions import BasePermission

from bnpl.models import ApiKey, Role


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


def caller_role(request) -> str:
    return request.auth.role


def caller_merchant_id(request):
    """The merchant a ``merchant`` key is bound to; ``None`` for other roles."""
    return request.auth.merchant_id if request.auth.role == Role.MERCHANT else None
