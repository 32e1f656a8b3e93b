"""List filters: a status and references by id, the shape every list endpoint filters by."""
import django_filters
from django.db.models import Model
from django_filters.rest_framework import DjangoFilterBackend

from bnpl.strict_fields import StrictUUIDFilter


def status_and_ids_filterset(model: type[Model], *, status_choices, ids: list[str]) -> type[django_filters.FilterSet]:
    """A FilterSet with ``?status=`` (one of ``status_choices``) and ``?<name>=`` for each
    ``<name>`` in ``ids`` (a foreign key's ``*_id``, matched as a UUID)."""
    attrs: dict = {"status": django_filters.ChoiceFilter(choices=status_choices)}
    attrs.update({name: StrictUUIDFilter(field_name=name) for name in ids})
    attrs["Meta"] = type("Meta", (), {"model": model, "fields": ["status", *ids]})
    return type(f"{model.__name__}Filter", (django_filters.FilterSet,), attrs)


class QueryFilterBackend(DjangoFilterBackend):
    """django-filter's backend, which builds no FilterSet for a request without a query string.

    Every GET runs the view's filter backend, a detail GET too (``get_object`` filters the
    queryset first); building the FilterSet and validating its form cost a third of a
    ``GET /users/{id}/``. With no query parameters there is nothing to filter by and nothing to
    refuse (no filter here is required, and a filter with an empty value leaves the queryset
    as it is), so the queryset is returned unchanged, exactly what the FilterSet would return.
    """

    def filter_queryset(self, request, queryset, view):
        if not request.query_params:
            return queryset
        return super().filter_queryset(request, queryset, view)
