"""``X-Request-ID`` on every response (``Cache-Control: no-store`` on the API's), one structured
access-log line and the request metrics per request, and the API's short path through the stack.

The admin's middleware is in ``bnpl.admin_middleware``.
"""
import contextvars
import logging
import re
import time
import uuid

from django.utils.cache import patch_vary_headers

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
      same settings, called by :class:`ApiEdge` in one step;
    - not whitenoise (static files are not under ``/api/``), sessions, auth, messages, CSRF and
      axes: the API authenticates by key and reads no cookie, so there is no session to protect
      from cross-site requests (every API view is CSRF-exempt anyway) and no login to lock out.

    The access line carries the route *pattern* (``/api/v1/users/<pk>/``), never the raw path or
    query string: those can hold personal data (``?phone_number=``).
    bench/RESULTS.md ("Request path") has what this saves per request.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        innermost = _innermost_handler(get_response)
        self.api_response = None if innermost is None else ApiEdge(innermost)

    def __call__(self, request):
        from bnpl import metrics
        from bnpl.admin_middleware import skips_admin_middleware

        started = time.perf_counter()
        # META, not request.headers: that builds a mapping of every header, which a GET on the API
        # otherwise never needs.
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
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


class _Scheme:
    """A stand-in request that is (or is not) HTTPS, to ask ``SecurityMiddleware`` for its headers."""

    def __init__(self, secure: bool):
        self.secure = secure

    def is_secure(self) -> bool:
        return self.secure


class ApiEdge:
    """Django's security, CORS, common and X-Frame-Options middleware around the API's view, as one step.

    The same middleware classes, built from the same settings and called in the same order as
    MIDDLEWARE nests them (security outermost, X-Frame-Options next to the view), with an exception
    answered where that layer's wrapper would answer it, so an answer is the one the four layers give:
    ``test_request_path`` holds it equal to the whole stack's, redirect, preflight, bad host and
    allowed or refused origin included. What it saves (a tenth of floor B's time in process, 138-144
    -> 124 us, bench/RESULTS.md, "Request path, seventh pass") is the four layers' own calls and
    two pieces of work per request:

    - the security headers that never vary (HSTS, nosniff, Referrer-Policy, COOP) are asked of
      ``SecurityMiddleware.process_response`` once, at start, and set as it would set them;
    - a request without an ``Origin`` header (every server-to-server call) gets corsheaders' one
      effect on it, ``Vary: origin`` where CORS is enabled, without building ``request.headers``;
      a request with one goes through corsheaders' own code.
    """

    def __init__(self, view):
        from corsheaders.middleware import CorsMiddleware
        from django.http import HttpResponse
        from django.middleware.clickjacking import XFrameOptionsMiddleware
        from django.middleware.common import CommonMiddleware
        from django.middleware.security import SecurityMiddleware

        self.view = view  # Django's view dispatch, already answering its exceptions
        self.security = SecurityMiddleware(view)
        self.cors = CorsMiddleware(view)
        self.common = CommonMiddleware(view)
        self.xframe = XFrameOptionsMiddleware(view)
        self.redirects = bool(self.security.redirect)
        plain, secure = HttpResponse(), HttpResponse()
        self.security.process_response(_Scheme(False), plain)
        self.security.process_response(_Scheme(True), secure)
        # (name, value) in the order SecurityMiddleware sets them; the HTTPS-only one apart.
        self.security_defaults = [(name, value) for name, value in plain.items()
                                  if name not in ("Content-Type",)]
        self.hsts = secure.get("Strict-Transport-Security")

    def __call__(self, request):
        from django.core.handlers.exception import response_for_exception

        try:
            # SecurityMiddleware.process_request: the HTTPS redirect, when it is on.
            response = self.security.process_request(request) if self.redirects else None
        except Exception as exc:  # noqa: BLE001 - answered as the security layer's wrapper answers it
            return response_for_exception(request, exc)
        if response is None:
            try:
                response = self.cors.check_preflight(request)
                if response is None:
                    response = self._common(request)
                self._cors_headers(request, response)
            except Exception as exc:  # noqa: BLE001 - as above, for the CORS layer
                response = response_for_exception(request, exc)
        self._security_headers(request, response)  # its redirect too, as MiddlewareMixin does
        return response

    def _common(self, request):
        from django.core.handlers.exception import response_for_exception

        try:
            response = self.common.process_request(request)  # refused agents, Host, PREPEND_WWW
            if response is None:
                response = self.view(request)
                try:
                    response = self.xframe.process_response(request, response)
                except Exception as exc:  # noqa: BLE001 - the X-Frame-Options layer's wrapper
                    response = response_for_exception(request, exc)
            return self.common.process_response(request, response)  # Content-Length
        except Exception as exc:  # noqa: BLE001 - the common layer's wrapper
            return response_for_exception(request, exc)

    def _cors_headers(self, request, response) -> None:
        if "HTTP_ORIGIN" in request.META:
            self.cors.add_response_headers(request, response)
            return
        # corsheaders without an Origin: ``Vary: origin`` where CORS is enabled, and nothing else.
        enabled = getattr(request, "_cors_enabled", None)
        if enabled is None:
            enabled = self.cors.is_enabled(request)
        if enabled:
            if "Vary" in response.headers:
                patch_vary_headers(response, ("origin",))
            else:
                response.headers["Vary"] = "origin"

    def _security_headers(self, request, response) -> None:
        headers = response.headers
        if self.hsts is not None and "Strict-Transport-Security" not in headers and request.is_secure():
            headers["Strict-Transport-Security"] = self.hsts
        for name, value in self.security_defaults:
            if name not in headers:
                headers[name] = value
