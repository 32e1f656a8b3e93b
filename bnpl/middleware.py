"""``X-Request-ID`` on every response (``Cache-Control: no-store`` on the API's), and one
structured access-log line per request. The admin's middleware is in ``bnpl.admin_middleware``.
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


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        if request.path_info.startswith("/api/v1/"):
            # Every API answer is about one caller's data at one moment (a balance, a plan): no
            # shared or private cache, and no browser history, may keep it. Errors included.
            response["Cache-Control"] = "no-store"
        return response


class AccessLogMiddleware:
    """Logs ``bnpl.access`` and feeds the request metrics. Place it right after RequestIdMiddleware.

    The line carries the route *pattern* (``/api/v1/users/<pk>/``), never the raw path or
    query string: those can hold personal data (``?phone_number=``).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from bnpl import metrics

        started = time.perf_counter()
        response = self.get_response(request)
        duration = time.perf_counter() - started
        route = metrics.route_label(request)
        if route != "/metrics":
            metrics.observe_request(method=request.method, route=route, status=response.status_code,
                                    duration_s=duration)
        # Probes hit every few seconds: their lines are DEBUG so they do not drown the real traffic.
        level = logging.DEBUG if route in _PROBE_ROUTES and response.status_code < 400 else logging.INFO
        access_logger.log(
            level, "request", extra={
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(duration * 1000, 2),
            })
        return response


