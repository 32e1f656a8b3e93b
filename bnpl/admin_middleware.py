"""Django's session, auth and messages middleware, skipped on ``/api/``.

They serve the admin (and its login) only: the API authenticates every request by its key
(``bnpl.authentication``) and sets no cookie (bench/RESULTS.md, "Request path", for the cost).
They are subclasses, not one wrapper, so the admin's own system checks (admin.E408-E410) still
find them in MIDDLEWARE and the admin works unchanged. Django's CsrfViewMiddleware stays as it
is: ``check --deploy`` looks for it by name, and on the API it costs next to nothing (DRF's
views are CSRF-exempt, so it returns at once). (Not in ``bnpl.middleware``: importing
the auth middleware loads models, and ``bnpl.logging`` imports that module before apps are ready.)
"""
from django.contrib.auth.middleware import AuthenticationMiddleware as _AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as _MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as _SessionMiddleware

API_PREFIX = "/api/"
# Under /api/ but read with a staff session too: the health page shows its figures to staff
# signed in to the admin (API.md §9), so it keeps the session and ``request.user``.
SESSION_API_PATHS = frozenset({"/api/v1/health/"})


def skips_admin_middleware(path: str) -> bool:
    return path.startswith(API_PREFIX) and path not in SESSION_API_PATHS


class _AdminOnly:
    def __call__(self, request):
        if skips_admin_middleware(request.path_info) and not self.async_mode:
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(_AdminOnly, _SessionMiddleware):
    pass


class AuthenticationMiddleware(_AdminOnly, _AuthenticationMiddleware):
    pass


class MessageMiddleware(_AdminOnly, _MessageMiddleware):
    pass

