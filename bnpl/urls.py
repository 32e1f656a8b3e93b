from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.http import JsonResponse
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_yasg import openapi
from drf_yasg.views import get_schema_view
from rest_framework.permissions import AllowAny

from bnpl import health, metrics

# The choices made where shared/API.md is silent, shown at the top of Swagger and ReDoc.
CONTRACT_DECISIONS = (Path(__file__).with_name("contract_decisions.md")).read_text()

schema_view = get_schema_view(
    openapi.Info(
        title="BNPL Debt & Refund Service",
        default_version="v1",
        description="Installment plans, debt and refunds. Errors are RFC 9457 problem+json; "
                    "money is a decimal string with the currency's ISO 4217 places (two for UZS); "
                    "authenticate with `Authorization: Bearer <key>`."
                    "\n\n## Contract decisions\n\n" + CONTRACT_DECISIONS,
    ),
    public=True,
    permission_classes=[AllowAny],
    authentication_classes=[],
)

api_v1: list[URLPattern | URLResolver] = [
    path("health/", health.dashboard, name="health"),
    path("health/live/", health.live, name="health-live"),
    path("health/ready/", health.ready, name="health-ready"),
    path("", include("users.urls")),
    path("", include("merchants.urls")),
    path("", include("plans.urls")),
    path("", include("debt.urls")),
    path("", include("refunds.urls")),
    path("", include("webhooks.api_urls")),
    path("", include("ledger.urls")),
    path("", include("audit.urls")),
]


def bench_floor(request):
    """Floor B of bench/api.py: the middleware stack and nothing else (``BNPL_BENCH_FLOOR`` only)."""
    return JsonResponse({"ok": True})


if settings.BNPL_BENCH_FLOOR:
    # First, so that what it measures is the middleware, not its place in the URLconf.
    api_v1.insert(0, path("bench/floor/", bench_floor, name="bench-floor"))

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("webhook/", include("webhooks.urls")),
    path("admin/", admin.site.urls),
    path("metrics", metrics.metrics_view, name="metrics"),
    re_path(r"^swagger\.json$", schema_view.without_ui(cache_timeout=0), name="schema-json"),
    path("swagger/", schema_view.with_ui("swagger", cache_timeout=0), name="schema-swagger-ui"),
    path("redoc/", schema_view.with_ui("redoc", cache_timeout=0), name="schema-redoc"),
]

handler400 = "bnpl.errors.handler400"
handler403 = "bnpl.errors.handler403"
handler404 = "bnpl.errors.handler404"
handler500 = "bnpl.errors.handler500"
