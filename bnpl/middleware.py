"""``X-Request-ID`` on every response (``Cache-Control: no-store`` on the API's), one structured
access-log line and the request metrics per request, and the API's short path through the stack.

The admin's middleware is in ``bnpl.admin_middleware``.
"""
import contextvars
import logging
import re
import time
import uuid

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

access_logger = logging.getLogger("bnpl.access")
_PROBE_ROUTES = frozenset({"/api/v1/health/live/", "/api/v1/health/ready/"})
API_V1_PREFIX = "/api/v1/"


def _innermost_handler(get_response):
    """The handler's own view dispatch at the end of the middleware chain, or None.

    Django wraps every layer in ``convert_exception_to_response`` (``functools.wraps``, so the
    layer is its ``__wrapped__``) and hands each middleware the next one as ``get_response``; the
    last ``get_response`` is ``BaseHandler._get_response`` (URL resolution, view middleware, the
    view), still wrapped so an exception becomes a response.
    """
    layer = get_response
    for _ in range(64):
        target = getattr(layer, "__wrapped__", None)
        if target is None:
            return None
        inner = getattr(target, "get_response", None)
        if inner is None:
            return layer if getattr(target, "__name__", "") == "_get_response" else None
        layer = inner
    return None


class RequestMiddleware:
    """First in MIDDLEWARE. Request id, ``no-store``, the ``bnpl.access`` line and the metrics.

    On ``/api/`` (bar the health page, which staff read with their admin session) it sends the
    request through the only middleware the API needs instead of the whole stack:

    - security (HTTPS redirect, HSTS, nosniff, referrer and opener policies), CORS, common
      (``Content-Length``; its slash redirect never fires under ``/api/``, where the catch-all
      matches every path) and X-Frame-Options, each the same Django/corsheaders code with the
      same settings;
    - not whitenoise (static files are not under ``/api/``), sessions, auth, messages, CSRF and
      axes: the API authenticates by key and reads no cookie, so there is no session to protect
      from cross-site requests (every API view is CSRF-exempt anyway) and no login to lock out.

    The access line carries the route *pattern* (``/api/v1/users/<pk>/``), never the raw path or
    query string: those can hold personal data (``?phone_number=``).
    bench/RESULTS.md ("Request path") has what this saves per request.
    """

    def __init__(self, get_response):
        from corsheaders.middleware import CorsMiddleware
        from django.core.handlers.exception import convert_exception_to_response
        from django.middleware.clickjacking import XFrameOptionsMiddleware
        from django.middleware.common import CommonMiddleware
        from django.middleware.security import SecurityMiddleware

        self.get_response = get_response
        self.api_response = _innermost_handler(get_response)
        if self.api_response is not None:
            # The same classes, in the same order and wrapped as Django wraps them, as in MIDDLEWARE.
            for middleware in (XFrameOptionsMiddleware, CommonMiddleware, CorsMiddleware, SecurityMiddleware):
                self.api_response = convert_exception_to_response(middleware(self.api_response))

    def __call__(self, request):
        from bnpl import metrics
        from bnpl.admin_middleware import skips_admin_middleware

        started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            path = request.path_info
            if self.api_response is not None and skips_admin_middleware(path):
                response = self.api_response(request)
            else:
                response = self.get_response(request)
            response["X-Request-ID"] = request_id
            if path.startswith(API_V1_PREFIX):
                # Every API answer is about one caller's data at one moment (a balance, a plan): no
                # shared or private cache, and no browser history, may keep it. Errors included.
                response["Cache-Control"] = "no-store"
            duration = time.perf_counter() - started
            route = metrics.route_label(request)
            status = response.status_code
            if route != "/metrics":
                metrics.observe_request(method=request.method, route=route, status=status, duration_s=duration)
            # Probes hit every few seconds: their lines are DEBUG so they do not drown the real traffic.
            level = logging.DEBUG if route in _PROBE_ROUTES and status < 400 else logging.INFO
            if access_logger.isEnabledFor(level):
                access_logger.log(level, "request", extra={
                    "method": request.method, "route": route, "status": status,
                    "duration_ms": round(duration * 1000, 2)})
        finally:
            request_id_var.reset(token)
        return response
