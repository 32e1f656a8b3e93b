"""The one router: object ids in paths are ASCII.

DRF's default lookup pattern (``[^/.]+``) lets any character reach the view, where
``uuid.UUID`` reads Unicode digits: ``/plans/<an id in Arabic-Indic digits>/`` would name the
same plan as its ASCII spelling. With this pattern such a path matches no route (404), while a
malformed ASCII id still reaches the view and is a 404 after authentication, like an unknown one.
"""
from rest_framework.routers import SimpleRouter

ASCII_LOOKUP = "[0-9A-Za-z-]+"


class Router(SimpleRouter):
    def get_lookup_regex(self, viewset, lookup_prefix=""):
        if not hasattr(viewset, "lookup_value_regex"):
            viewset.lookup_value_regex = ASCII_LOOKUP
        return super().get_lookup_regex(viewset, lookup_prefix)
