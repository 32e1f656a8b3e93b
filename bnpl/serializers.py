"""Serializer fields built once per class, not on every request (bench/RESULTS.md, "Request path").

DRF builds a serializer's fields anew for every instance: ``ModelSerializer.get_fields`` maps each
model field to a serializer field (kwargs from the model field, validators, choices) and deep-copies
the declared ones, which on a read costs more calls than the query that fetched the row.
:class:`CachedFieldsMixin` keeps the unbound fields ``get_fields`` returns the first time and hands
each instance shallow copies of them, which it then binds as usual (``bind`` sets attributes on
the copy only). A nested serializer or a field with a child (``ListField``, a many relation) is
deep-copied, as DRF itself does, because binding the copy would rebind the shared child.

Only for serializers whose fields depend on the class alone (no ``get_fields`` or ``__init__``
reading the context or the instance). The fields, and so the output and the OpenAPI schema,
are exactly those DRF builds.
"""
import copy

from rest_framework import serializers


def _fresh(field: serializers.Field) -> serializers.Field:
    if isinstance(field, serializers.BaseSerializer) or hasattr(field, "child") or hasattr(field, "child_relation"):
        return copy.deepcopy(field)
    return copy.copy(field)


class CachedFieldsMixin:
    def get_fields(self):
        cls = type(self)
        prototypes = cls.__dict__.get("_prototype_fields")
        if prototypes is None:
            prototypes = super().get_fields()
            cls._prototype_fields = prototypes  # a race only builds it twice
        return {name: _fresh(field) for name, field in prototypes.items()}
