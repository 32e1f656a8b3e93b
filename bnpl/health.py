"""Health endpoints (API.md §9). Probes here; the full dashboard is built on these checks."""
from django.db import connection
from django.http import JsonResponse


def live(request):
    """The process is up. No I/O."""
    return JsonResponse({"status": "ok"})


def ready(request):
    """The database and Redis answer."""
    from django.conf import settings
    from django.core.cache import cache

    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001
        checks["database"] = "down"
    if settings.REDIS_AVAILABLE:
        try:
            cache.get("health:ready")
            checks["redis"] = "ok"
        except Exception:  # noqa: BLE001
            checks["redis"] = "down"
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "down", "checks": checks}, status=200 if ok else 503)
