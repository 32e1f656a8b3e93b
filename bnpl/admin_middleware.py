"""Django's session, CSRF, auth and messages middleware, skipped on ``/api/``.

They serve the admin (and its login) only: the API authenticates every request by its key
(``bnpl.authentication``), sets no cookie, and its DRF views are CSRF-exempt by construction.
On /api/ they cost about a tenth of a request's capacity (bench/RESULTS.md, "Request path").
They are subclasses, not one wrapper, so the admin's own system checks (admin.E408-E410) still
find them in MIDDLEWARE and the admin works unchanged. (Not in ``bnpl.middleware``: importing
the auth middleware loads models, and ``bnpl.logging`` imports that module before apps are ready.)
"""
from django.contrib.auth.middleware import AuthenticationMiddleware as _AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as _MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as _SessionMiddleware
from django.middleware.csrf import CsrfViewMiddleware as _CsrfViewMiddleware

API_PREFIX = "/api/"


class _AdminOnly:
    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX) and not self.async_mode:
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(_AdminOnly, _SessionMiddleware):
    pass


class AuthenticationMiddleware(_AdminOnly, _AuthenticationMiddleware):
    pass


class MessageMiddleware(_AdminOnly, _MessageMiddleware):
    pass


class CsrfViewMiddleware(_AdminOnly, _CsrfViewMiddleware):
    def process_view(self, request, callback, callback_args, callback_kwargs):
        # The handler calls process_view itself (not through __call__), so skip it here too.
        if request.path_info.startswith(API_PREFIX):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)
