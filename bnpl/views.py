"""What the read views share: the object of a detail read fetched by a prepared statement."""
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from rest_framework.generics import GenericAPIView


class PreparedObjectMixin(GenericAPIView):
    """``get_object()`` through the view's ``prepared_object(pk)`` (``bnpl.prepared``: the same
    statement ``get_queryset().get(pk=...)`` runs, built once), with what DRF's ``get_object`` does
    around it: a malformed id is a 404 like an unknown one, and the object permissions are checked.

    With a query string the request goes through DRF's own path: the filter backend may narrow the
    queryset (or answer 400 to a bad filter), which a prepared statement does not know about."""

    def prepared_object(self, pk: Any) -> Any:
        raise NotImplementedError

    def get_object(self):
        if self.request.query_params:
            return super().get_object()
        try:
            obj = self.prepared_object(self.kwargs[self.lookup_url_kwarg or self.lookup_field])
        except (TypeError, ValueError, ValidationError):
            raise Http404 from None
        if obj is None:
            raise Http404
        self.check_object_permissions(self.request, obj)
        return obj
