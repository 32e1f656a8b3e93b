"""The URLconf as ``BNPL_BENCH_FLOOR=1`` builds it (bnpl/urls.py reads the setting at import)."""
from django.urls import path

from bnpl.urls import bench_floor
from bnpl.urls import urlpatterns as _production

urlpatterns = [path("api/v1/bench/floor/", bench_floor, name="bench-floor"), *_production]
