"""URLs of the ops app, included by the URL root (``bnpl/urls.py``) by name, never imported by it.

Included last: its catch-all answers any path under ``/api/`` or ``/webhook/`` that nothing
else matched with a problem+json 404 (with ``DEBUG`` on too).
"""
from django.urls import path, re_path

from ops import api, metrics

urlpatterns = [
    path("", api.root_redirect, name="root"),
    path("metrics", metrics.metrics_view, name="metrics"),
    re_path(r"^api/(?P<rest>.*)$", api.api_not_found, name="api-not-found"),
    re_path(r"^webhook/(?P<rest>.*)$", api.api_not_found, name="webhook-not-found"),
]
