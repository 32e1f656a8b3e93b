"""HTTP of the ops app: the health page and probes, the API index, and 404s in the API's shape."""
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponsePermanentRedirect, HttpResponseRedirect, JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.csrf import csrf_exempt
from drf_yasg import openapi
from drf_yasg.utils import swagger_auto_schema
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer, TemplateHTMLRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from bnpl.authentication import ApiKeyAuthentication
from bnpl.errors import PROBLEM_CONTENT_TYPE, problem
from bnpl.models import Role
from ops import health
from ops.dashboard import Charts
from ops.dashboard import charts as dashboard_charts
from ops.dashboard import present as dashboard_context
from ops.health import DEGRADED, DISABLED, DOWN, OK

logger = logging.getLogger(__name__)


class HealthNegotiation(BaseContentNegotiation):
    """JSON for ``Accept: application/json`` (preferred over HTML) or ``?format=json``; HTML otherwise."""

    def select_renderer(self, request, renderers, format_suffix=None):
        by_format = {r.format: r for r in renderers}
        wanted = request.query_params.get("format") or format_suffix
        if wanted:
            if wanted not in by_format:
                raise exceptions.NotFound()
            renderer = by_format[wanted]
        else:
            preferred = request._request.get_preferred_type(["text/html", "application/json"])
            renderer = by_format["json" if preferred == "application/json" else "html"]
        return renderer, renderer.media_type


def _is_operator_or_staff(request) -> bool:
    """A valid operator key (optional here) or a staff session. A bad key is ignored, not refused."""
    try:
        user = getattr(request._request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            return True
        result = ApiKeyAuthentication().authenticate(request)
    except (exceptions.AuthenticationFailed, DatabaseError):
        # With the database down nobody can be verified: the statuses alone still say what failed.
        return False
    return result is not None and result[1].role == Role.OPERATOR


_CHECK = openapi.Schema(type=openapi.TYPE_OBJECT, properties={
    "status": openapi.Schema(type=openapi.TYPE_STRING, enum=[OK, DEGRADED, DOWN, DISABLED])},
    additional_properties=True,
    description="Anonymous callers get `status` alone; operators and staff sessions also the details.")
_HEALTH_SCHEMA = openapi.Schema(type=openapi.TYPE_OBJECT, properties={
    "status": openapi.Schema(type=openapi.TYPE_STRING, enum=[OK, DEGRADED, DOWN]),
    "version": openapi.Schema(type=openapi.TYPE_STRING),
    "time": openapi.Schema(type=openapi.TYPE_STRING, format=openapi.FORMAT_DATETIME),
    "checks": openapi.Schema(type=openapi.TYPE_OBJECT, properties={
        name: _CHECK for name in health.check_names()}),
    "figures": openapi.Schema(type=openapi.TYPE_OBJECT, description="Operators and staff sessions only.",
                              properties={
                                  "currency": openapi.Schema(type=openapi.TYPE_STRING),
                                  "users_in_debt": openapi.Schema(type=openapi.TYPE_INTEGER),
                                  "overdue_amount": openapi.Schema(type=openapi.TYPE_STRING),
                                  "active_plans": openapi.Schema(type=openapi.TYPE_INTEGER),
                                  "pending_refunds": openapi.Schema(type=openapi.TYPE_INTEGER),
                                  "pending_refunds_amount": openapi.Schema(type=openapi.TYPE_STRING),
                              }),
})
_PROBE_SCHEMA = openapi.Schema(type=openapi.TYPE_OBJECT, properties={
    "status": openapi.Schema(type=openapi.TYPE_STRING, enum=[OK, DOWN]),
    "checks": openapi.Schema(type=openapi.TYPE_OBJECT, additional_properties=_CHECK),
})
_RETRY_AFTER = {"Retry-After": openapi.Schema(type=openapi.TYPE_INTEGER,
                                              description="Seconds to wait before asking again.")}


class _PublicView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def perform_authentication(self, request):
        # DRF would overwrite the session user (AuthenticationMiddleware) with its own anonymous one.
        pass


def _with_retry_after(response: Response) -> Response:
    if response.status_code == 503:
        response["Retry-After"] = str(health.RETRY_AFTER_S)
    return response


class DashboardRenderer(TemplateHTMLRenderer):
    """The HTML dashboard: the same document, presented as readable rows (``ops.dashboard``)."""

    def get_template_context(self, data, renderer_context):
        return dashboard_context(data, getattr(renderer_context.get("view"), "charts", None))


class HealthView(_PublicView):
    renderer_classes = [JSONRenderer, DashboardRenderer]
    content_negotiation_class = HealthNegotiation

    @swagger_auto_schema(
        operation_id="health",
        operation_description=(
            "Service health. No API key needed. JSON for `Accept: application/json` (or `?format=json`), "
            "an HTML dashboard otherwise.\n\n"
            "Checks: `database` (latency), `redis` (latency), `celery` (workers answering a ping, queue "
            "length), `overdue_sweep` (last run, duration, counts; stale after 3 sweep intervals), "
            "`webhooks` (inbox backlog of RECEIVED events and the oldest one's age). A check's status is "
            "`ok`, `degraded`, `down` or `disabled` (embedded mode, `REDIS_URL` unset: in-process, not a "
            "failure).\n\n"
            "**Anonymous callers (and client or merchant keys) see each check's `status` only**; the "
            "details and `figures` (users in debt, overdue amount, active plans, pending refunds) are added "
            "for a valid **operator** key (`Authorization: Bearer`, optional here) or a staff session; any "
            "other or invalid key is ignored, never refused. Results other than the database's are cached "
            "for up to 10 s (`BNPL_HEALTH_CACHE_SECONDS`), so the page stays fast while Redis or the broker "
            "hangs.\n\n"
            "Overall `down` with **503** (and `Retry-After`) only when the database is down; the 503 body "
            "is this same document (not problem+json) so that monitors can read which check failed. Any "
            "other failing check, Redis and the broker included, makes it `degraded` with 200."),
        responses={200: _HEALTH_SCHEMA,
                   503: openapi.Response("The database is down.", _HEALTH_SCHEMA, headers=_RETRY_AFTER)},
        security=[],
        # The dashboard is HTML unless JSON is asked for (drf-yasg lists only the JSON renderer).
        produces=["application/json", "text/html"],
    )
    def get(self, request):
        privileged = _is_operator_or_staff(request)
        body, status = health.health_report(with_details=privileged, with_figures=privileged)
        self.charts = self._charts(request, body) if privileged else None
        return _with_retry_after(Response(body, status=status, template_name="ops/health.html"))


    @staticmethod
    def _charts(request, body: dict) -> Charts | None:
        """The operators' charts, for the HTML dashboard only, and only when the figures could be read."""
        if request.accepted_renderer.format != "html" or "users_in_debt" not in body.get("figures", {}):
            return None
        try:
            return dashboard_charts()
        except DatabaseError as exc:
            logger.warning("health charts failed: %s", type(exc).__name__)
            return None


class LiveView(_PublicView):
    renderer_classes = [JSONRenderer]

    @swagger_auto_schema(operation_id="health_live", security=[],
                         operation_description="Liveness probe: the process answers. No I/O.",
                         responses={200: _PROBE_SCHEMA})
    def get(self, request):
        return Response({"status": OK})


class ReadyView(_PublicView):
    renderer_classes = [JSONRenderer]

    @swagger_auto_schema(operation_id="health_ready", security=[],
                         operation_description=(
                             "Readiness probe: 200 while the database answers. A Redis or broker outage "
                             "never makes the service unready (it is `degraded` on the health page; the "
                             "webhook keeps answering 202). 503 with `Retry-After` and the same shape "
                             "when the database is down."),
                         responses={200: _PROBE_SCHEMA,
                                    503: openapi.Response("The database is down.", _PROBE_SCHEMA,
                                                          headers=_RETRY_AFTER)})
    def get(self, request):
        body, status = health.readiness()
        return _with_retry_after(Response(body, status=status))


class ApiIndexView(_PublicView):
    """``GET /api/v1/``: where everything is, for a person who just started the service."""

    renderer_classes = [JSONRenderer]

    @swagger_auto_schema(operation_id="api_index", security=[],
                         operation_description="Links to the resources, the schema, the docs and health. "
                                               "No API key needed; every resource needs one.")
    def get(self, request):
        def url(path: str) -> str:
            return request.build_absolute_uri(path)

        return Response({
            "name": "BNPL Debt & Refund Service",
            "version": health.VERSION,
            "authentication": "Authorization: Bearer <api key> (manage.py create_api_key)",
            "resources": {
                "users": url("/api/v1/users/"),
                "merchants": url("/api/v1/merchants/"),
                "plans": url("/api/v1/plans/"),
                "installment_extension": url("/api/v1/installments/") + "{id}/extend/",
                "debt": url("/api/v1/debt/") + "{user_id}/",
                "installment_waive_fees": url("/api/v1/installments/") + "{installment_id}/waive-fees/",
                "refunds": url("/api/v1/refunds/"),
                "webhook_events": url("/api/v1/webhook-events/"),
                "merchant_webhook": url("/webhook/refund-status/"),
                "aging_report": url(reverse("reports-aging")),
            },
            "docs": {"swagger": url("/swagger/"), "redoc": url("/redoc/"), "schema": url("/swagger.json")},
            "health": {"dashboard": url(reverse("health")), "live": url(reverse("health-live")),
                       "ready": url(reverse("health-ready"))},
        })


def root_redirect(request):
    """``/`` (and the admin's "View site") leads to the API index."""
    return HttpResponseRedirect(reverse("api-index"))


@csrf_exempt  # an unknown path is a 404 for any method; CSRF's 403 HTML page would hide it
def api_not_found(request, rest=""):
    """Any unknown path under ``/api/`` or ``/webhook/``: problem+json 404, also with ``DEBUG`` on.

    (With ``DEBUG``, Django answers an unmatched URL with its HTML page listing every pattern,
    bypassing ``handler404``.) The metrics count it as unmatched, like any other unknown path.
    """
    if settings.APPEND_SLASH and not request.path_info.endswith("/"):
        # What CommonMiddleware would have done had this pattern not matched: /api/v1/users -> /users/.
        try:
            target = resolve(request.path_info + "/")
        except Resolver404:
            target = None
        if target is not None and target.func is not api_not_found:
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    request.resolver_match = None
    return JsonResponse(problem(404, "not_found", "Not found", "Nothing is found at this address."),
                        status=404, content_type=PROBLEM_CONTENT_TYPE)


dashboard = HealthView.as_view()
live = LiveView.as_view()
ready = ReadyView.as_view()
api_index = ApiIndexView.as_view()
