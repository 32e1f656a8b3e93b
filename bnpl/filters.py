"""List filters: a status and references by id, the shape every list endpoint filters by."""
import django_filters
from django.db.models import Model


def status_and_ids_filterset(model: type[Model], *, status_choices, ids: list[str]) -> type[django_filters.FilterSet]:
    """A FilterSet with ``?status=`` (one of ``status_choices``) and ``?<name>=`` for each
    ``<name>`` in ``ids`` (a foreign key's ``*_id``, matched as a UUID)."""
    attrs: dict = {"status": django_filters.ChoiceFilter(choices=status_choices)}
    attrs.update({name: django_filters.UUIDFilter(field_name=name) for name in ids})
    attrs["Meta"] = type("Meta", (), {"model": model, "fields": ["status", *ids]})
    return type(f"{model.__name__}Filter", (django_filters.FilterSet,), attrs)
