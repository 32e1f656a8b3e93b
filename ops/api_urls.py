"""The ops app's part of ``/api/v1/``: the index and the health endpoints."""
from django.urls import path

from ops import api

urlpatterns = [
    path("", api.api_index, name="api-index"),
    path("health/", api.dashboard, name="health"),
    path("health/live/", api.live, name="health-live"),
    path("health/ready/", api.ready, name="health-ready"),
]
