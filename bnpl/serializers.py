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
from typing import Any, cast

from rest_framework import mixins, serializers, viewsets
from rest_framework.response import Response

from bnpl.dates import one_business_day


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


def _itself(instance: Any) -> Any:
    return instance


def _simple_method(model: type, name: str) -> bool:
    """``name`` is a plain function on ``model`` that DRF's ``is_simple_callable`` would call on
    an instance: every parameter after ``self`` has a default or is variadic."""
    import inspect

    function = inspect.getattr_static(model, name, None)
    if not inspect.isfunction(function):
        return False
    parameters = list(inspect.signature(function).parameters.values())[1:]
    return all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is not p.empty for p in parameters)


# Whether a type is a Mapping, once per type: ``isinstance(x, Mapping)`` is an ABC check, two
# Python calls per field of every row.
_IS_MAPPING: dict[type, bool] = {}


def _is_mapping(value: Any) -> bool:
    from collections.abc import Mapping

    known = _IS_MAPPING.get(type(value))
    if known is None:
        known = _IS_MAPPING[type(value)] = isinstance(value, Mapping)
    return known


def _attribute_getter(field: serializers.Field, columns: set[str], model: type | None = None) -> Callable[[Any], Any]:
    """``field.get_attribute`` for the common case, DRF's own for the rest.

    DRF's ``get_attribute`` (``Field.get_attribute`` -> ``fields.get_attribute``) is four calls per
    field, for the generality of dotted sources, mappings and callables. A source of ``"*"`` is the
    object itself. A model's own column (its attname, a foreign key's ``*_id`` included) is a plain
    value, read with ``attrgetter``. A model method DRF would call is called. Any other attribute,
    dotted or not (a property, an annotation, ``installment.amount``), is read with ``getattr``, step
    by step; a mapping, a callable value, or an attribute that raises at any step goes through DRF's
    own ``get_attribute`` (which reads it again, as DRF would, and handles defaults, ``SkipField`` and
    the error message), and a related object that does not exist is ``None``, as in DRF.
    """
    from operator import attrgetter

    from django.core.exceptions import ObjectDoesNotExist
    from rest_framework.fields import Field

    if type(field).get_attribute is not Field.get_attribute:
        return field.get_attribute
    if not field.source_attrs:
        return _itself
    names = tuple(field.source_attrs)
    if len(names) == 1 and names[0] in columns:
        return attrgetter(names[0])
    drf = field.get_attribute
    if len(names) == 1 and model is not None and _simple_method(model, names[0]):
        name = names[0]

        # A model method DRF would call (every parameter but self has a default), as DRF calls
        # it, without DRF's inspect.signature per call; an instance of another class is DRF's.
        def call(instance: Any) -> Any:
            if type(instance) is not model:
                return drf(instance)
            try:
                return getattr(instance, name)()
            except (AttributeError, KeyError):
                return drf(instance)  # DRF's own error for it (the call is made again)

        return call

    def get(instance: Any) -> Any:
        value = instance
        for name in names:
            known = _IS_MAPPING.get(type(value))
            if known is None:
                known = _is_mapping(value)
            if known:
                return drf(instance)
            try:
                value = getattr(value, name)
            except ObjectDoesNotExist:
                return None
            except (AttributeError, KeyError):
                return drf(instance)
            if callable(value):
                return drf(instance)
        return value

    return get


def _utc_iso(field: serializers.Field) -> Callable[[Any], Any]:
    """``DateTimeField.to_representation`` for an aware ``datetime`` when every time is shown in UTC
    (``TIME_ZONE`` is UTC, API.md §0, and nothing activates another time zone: test_compiled_reads
    holds that): ISO 8601 with ``Z``, without DRF's look-up of the current time zone per value
    (a fifth of a page of customers). Anything else (``None``, a string, a naive time) is DRF's."""
    from datetime import UTC, datetime

    drf = field.to_representation

    def render(value: Any) -> Any:
        if type(value) is not datetime or value.tzinfo is None:
            return drf(value)
        text = value.astimezone(UTC).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return render


def _iso_date(field: serializers.Field) -> Callable[[Any], Any]:
    """``DateField.to_representation`` of a ``date`` with the ISO format: ``isoformat()``; anything
    else (``None``, a string, a ``datetime``, which DRF refuses) is DRF's."""
    from datetime import date

    drf = field.to_representation

    def render(value: Any) -> Any:
        return value.isoformat() if type(value) is date else drf(value)

    return render


def _renderer(field: serializers.Field) -> Callable[[Any], Any]:
    """``field.to_representation``, or an exact shortcut for the exact DRF types whose output is
    fixed by their settings (a subclass may render otherwise, and keeps its own)."""
    from django.conf import settings
    from rest_framework import ISO_8601
    from rest_framework.settings import api_settings

    def iso(default: str | None) -> bool:
        output_format = getattr(field, "format", default)
        return output_format is not None and output_format.lower() == ISO_8601

    from bnpl.api_fields import MoneyField
    from bnpl.money import format_minor

    kind = type(field)
    if kind is MoneyField:
        return format_minor  # its to_representation, one call fewer per amount
    if kind is serializers.CharField:
        return str  # its to_representation is str(value)
    if kind is serializers.IntegerField:
        return int  # int(value)
    if kind is serializers.UUIDField and cast(serializers.UUIDField, field).uuid_format == "hex_verbose":
        return str  # str(value) in that format
    if (kind is serializers.DateTimeField and iso(api_settings.DATETIME_FORMAT) and not hasattr(field, "timezone")
            and settings.USE_TZ and settings.TIME_ZONE == "UTC"):
        return _utc_iso(field)
    if kind is serializers.DateField and iso(api_settings.DATE_FORMAT):
        return _iso_date(field)
    if kind is serializers.SerializerMethodField:
        # What its to_representation looks up on every call: the parent's method (the parent is
        # the serializer being compiled, bound for good).
        return getattr(field.parent, cast(serializers.SerializerMethodField, field).method_name)
    return field.to_representation


def compiled(serializer, *, exclude: frozenset[str] = frozenset()) -> Callable[[Any], dict]:
    """``serializer.to_representation`` with DRF's per-call machinery taken out of the loop.

    Each field is still read as its ``get_attribute`` reads it and rendered as its
    ``to_representation`` renders it, in the same order, with the same ``None`` and ``SkipField``
    handling as ``Serializer.to_representation``; only the walk over the fields (a generator over
    the bound fields, attribute look-ups per field) is done once, here, instead of per object and
    per nested item, and the commonest fields are read and rendered without DRF's generality
    (``_attribute_getter``, ``_renderer``). A serializer or list serializer with its own
    ``to_representation`` is used as it is. ``exclude``: fields left out, for a caller that
    renders them itself.
    """
    from django.db.models.manager import BaseManager
    from rest_framework import serializers
    from rest_framework.fields import SkipField
    from rest_framework.relations import PKOnlyObject, RelatedField

    if type(serializer).to_representation is not serializers.Serializer.to_representation:
        return serializer.to_representation

    model = getattr(getattr(serializer, "Meta", None), "model", None)
    columns = {f.attname for f in model._meta.concrete_fields} if model is not None else set()
    steps = []
    for field in serializer._readable_fields:
        if field.field_name in exclude:
            continue
        render = _renderer(field)
        if (isinstance(field, serializers.ListSerializer)
                and type(field).to_representation is serializers.ListSerializer.to_representation):
            assert field.child is not None
            child = (compiled(field.child) if isinstance(field.child, serializers.Serializer)
                     else field.child.to_representation)

            def render(data, child=child):
                return [child(item) for item in (data.all() if isinstance(data, BaseManager) else data)]
        elif isinstance(field, serializers.Serializer):
            render = compiled(field)
        # Only a related field hands over a PKOnlyObject (whose pk None means None), so only its
        # step asks (the question DRF asks of every field, 600 times on a page of customers).
        steps.append((field.field_name, _attribute_getter(field, columns, model), render,
                      isinstance(field, RelatedField)))

    def to_representation(instance: Any) -> dict:
        ret: dict[str, Any] = {}
        for name, get, render, related in steps:
            try:
                attribute = get(instance)
            except SkipField:
                continue
            if attribute is None or (related and isinstance(attribute, PKOnlyObject) and attribute.pk is None):
                ret[name] = None
            else:
                ret[name] = render(attribute)
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
    output does not depend on the context (the request, the view): it is rendered without one, on
    one business day (``bnpl.dates.one_business_day``). ``bnpl/tests/test_compiled_reads.py``
    holds every such view equal to DRF's own rendering. A view that sets ``prepared_pages`` has
    its list's pages read by prepared statements (``bnpl.prepared_pages``), and rendered by the
    database where those pages say how (``PreparedPages(rendered=...)``, on PostgreSQL)."""

    def render(self, obj: Any) -> dict:
        return rendered(self.get_serializer_class())(obj)

    def retrieve(self, request, *args, **kwargs):
        obj = self.get_object()
        with one_business_day():
            return Response(self.render(obj))

    # The list's pages as prepared statements (``bnpl.prepared_pages``), or None: the ORM's.
    prepared_pages: Any = None

    def list_source(self, request) -> Any:
        """The queryset the list paginates: the ORM's, or ``prepared_pages``' stand-in for it when
        the request is one it answers exactly (only ``CreatedCursorPagination`` and the query
        filter backend, whose work it does)."""
        from bnpl.filters import QueryFilterBackend
        from bnpl.pagination import CreatedCursorPagination

        if (self.prepared_pages is not None and type(self.paginator) is CreatedCursorPagination
                and list(self.filter_backends) == [QueryFilterBackend]):
            source = self.prepared_pages.source(request.query_params, api_key=request.auth,
                                                filterset_class=getattr(self, "filterset_class", None))
            if source is not None:
                return source
        return self.filter_queryset(self.get_queryset())

    def list(self, request, *args, **kwargs):
        queryset = self.list_source(request)
        page = self.paginate_queryset(queryset)
        if getattr(queryset, "rendered", False):
            # The database rendered the page (``bnpl.prepared_pages.Rendered``): each row's data.
            assert page is not None and type(self).render is CompiledReadViewSet.render, \
                "a view that renders its own way has no rendered pages"
            return self.get_paginated_response([row.data for row in page])
        with one_business_day():
            # The compiled renderer looked up once for the page, unless a view renders its own way.
            render = (rendered(self.get_serializer_class()) if type(self).render is CompiledReadViewSet.render
                      else self.render)
            if page is None:
                return Response([render(obj) for obj in queryset])
            return self.get_paginated_response([render(obj) for obj in page])
