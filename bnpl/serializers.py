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

:func:`compiled` goes one step further for rendering: a serializer's ``to_representation`` with
the walk over its fields done once; the events' representers and :class:`CompiledReadViewSet` (the
reads of plans and users) render with it.
"""
import copy
from collections.abc import Callable
from typing import Any

from rest_framework import mixins, serializers, viewsets
from rest_framework.response import Response


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


def compiled(serializer, *, exclude: frozenset[str] = frozenset()) -> Callable[[Any], dict]:
    """``serializer.to_representation`` with DRF's per-call machinery taken out of the loop.

    Each field is still read by its own ``get_attribute`` and rendered by its own
    ``to_representation``, in the same order, with the same ``None`` and ``SkipField`` handling
    as ``Serializer.to_representation``; only the walk over the fields (a generator over the
    bound fields, attribute look-ups per field) is done once, here, instead of per object and
    per nested item. A serializer or list serializer with its own ``to_representation`` is used
    as it is. ``exclude``: fields left out, for a caller that renders them itself.
    """
    from django.db.models.manager import BaseManager
    from rest_framework import serializers
    from rest_framework.fields import SkipField
    from rest_framework.relations import PKOnlyObject

    if type(serializer).to_representation is not serializers.Serializer.to_representation:
        return serializer.to_representation
    from operator import attrgetter

    from rest_framework.fields import Field

    model = getattr(getattr(serializer, "Meta", None), "model", None)
    # A model's own column (its attname, a foreign key's ``*_id`` included) is a plain value:
    # DRF's look-up (mapping? callable? missing?) always ends in ``getattr`` for it.
    columns = {f.attname for f in model._meta.concrete_fields} if model is not None else set()

    def _getter(serializer, field):
        if (type(field).get_attribute is Field.get_attribute and len(field.source_attrs) == 1
                and field.source_attrs[0] in columns):
            return attrgetter(field.source_attrs[0])
        return field.get_attribute
    steps = []
    for field in serializer._readable_fields:
        if field.field_name in exclude:
            continue
        render = field.to_representation
        if (isinstance(field, serializers.ListSerializer)
                and type(field).to_representation is serializers.ListSerializer.to_representation):
            assert field.child is not None
            child = (compiled(field.child) if isinstance(field.child, serializers.Serializer)
                     else field.child.to_representation)

            def render(data, child=child):
                return [child(item) for item in (data.all() if isinstance(data, BaseManager) else data)]
        elif isinstance(field, serializers.Serializer):
            render = compiled(field)
        steps.append((field.field_name, _getter(serializer, field), render))

    def to_representation(instance: Any) -> dict:
        ret = {}
        for name, get, render in steps:
            try:
                attribute = get(instance)
            except SkipField:
                continue
            check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            ret[name] = None if check_for_none is None else render(attribute)
        return ret

    return to_representation


def rendered(serializer_class: type[serializers.BaseSerializer]) -> Callable[[Any], dict]:
    """``compiled(serializer_class())``, built once per class: for a serializer whose output does not
    depend on the context (it is rendered without one)."""
    render = serializer_class.__dict__.get("_compiled_render")
    if render is None:
        render = compiled(serializer_class())
        serializer_class._compiled_render = render  # type: ignore[attr-defined] # a race only compiles it twice
    return render


class CompiledReadViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A viewset whose ``retrieve`` and ``list`` render each object with the view's serializer
    ``compiled`` once per class: the same output as ``get_serializer(obj).data``, without DRF's
    per-object walk over the fields (a third of a plan read's Python). Only for a serializer whose
    output does not depend on the context (the request, the view): it is rendered without one.
    ``bnpl/tests/test_compiled_reads.py`` holds every such view equal to DRF's own rendering."""

    def render(self, obj: Any) -> dict:
        return rendered(self.get_serializer_class())(obj)

    def retrieve(self, request, *args, **kwargs):
        return Response(self.render(self.get_object()))

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        if page is None:
            return Response([self.render(obj) for obj in queryset])
        return self.get_paginated_response([self.render(obj) for obj in page])
