"""A list's pages read by prepared statements: the ORM's work of building each page's query, done once.

A list request builds, in the ORM, the same few statements over and over: the base queryset, the
caller's merchant scope, the filters of its query string, the pagination's ordering, position and
slice, then the prefetched relations. Compiling them cost a list more Python than rendering its
fifty rows (bench/RESULTS.md, "Request path, fourth pass").

:class:`PreparedPages` keeps one :class:`bnpl.prepared.PreparedQuery` per page *shape* (which
filters are given, the ordering, whether a cursor position bounds it, the slice) and hands
``CursorPagination`` a stand-in for the queryset (:class:`PageSource`) that records what the
paginator does to it (``order_by``, the position's ``filter``, the slice) and answers the slice by
the prepared statement of that shape, with the request's values.

A list whose representation the database can build (``rendered``: the representation's fields as
SQL over a page row) is, on PostgreSQL, answered with each field's value as the representation
carries it, written by PostgreSQL: no model instance is built and no serializer walks the row, which
was most of a page's Python (bench/RESULTS.md, "Request path, tenth pass"). The view hands each
row's ``data`` (the field names zipped with the row) to the renderer as it would hand the
serializer's output; ``users/tests/test_rendered_pages.py`` holds the two byte for byte.

It covers what can be had exactly, and declines the rest to the ORM (``source`` returns ``None``):
a query parameter that is not a plain filter of the view's FilterSet (an exact match on a column,
no ``method``, not excluded or distinct), a filter value its form field refuses (the ORM's path then
answers the same 400), or any other filter backend. ``bnpl/tests/test_prepared_pages.py`` holds
each list, page after page in both directions, filtered and scoped, to the ORM's answers.
"""
from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast

import django_filters
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.signals import setting_changed
from django.db import connection
from django.db.models import Field, Model, QuerySet
from django.dispatch import receiver
from django_filters.constants import EMPTY_VALUES

from bnpl.models import ApiKey
from bnpl.permissions import merchant_scope, of_merchant
from bnpl.prepared import PreparedQuery, PreparedRows

M = TypeVar("M", bound=Model)

# The pagination's own parameters, read by the paginator (and refused there when malformed).
PAGINATION_PARAMETERS = frozenset({"limit", "cursor"})
# One statement per shape; the shapes a client uses are few (a limit, a filter or two, both directions).
MAX_SHAPES = 512


def _plain_filter(flt: django_filters.Filter, value: Any) -> bool:
    """``flt.filter(qs, value)`` is ``qs.filter(<field_name>__exact=value)`` (django-filter's
    ``Filter.filter``, or ``ChoiceFilter``'s for any value but its ``null_value``)."""
    if flt.method is not None or flt.exclude or flt.distinct or flt.lookup_expr != "exact":
        return False
    own = type(flt).filter
    if own is django_filters.ChoiceFilter.filter:
        return value != cast(django_filters.ChoiceFilter, flt).null_value
    return own is django_filters.Filter.filter


# Every PreparedPages: the SQL that renders a page is written from settings (the currency's places,
# the time zone), so a setting changed under the process (override_settings) empties its shapes.
_RENDERED: weakref.WeakSet[PreparedPages] = weakref.WeakSet()


@receiver(setting_changed)
def _settings_changed(**kwargs: Any) -> None:
    for pages in list(_RENDERED):
        pages.rendered_query.cache_clear()


class PreparedPages(Generic[M]):
    """The pages of ``build()`` (its rows, unordered and unfiltered), for a view whose list is
    ``filterset_class(query, scoped_to_caller(build(), api_key)).qs`` paginated by cursor.

    ``merchant_field``: the column of the caller's merchant scope (``bnpl.permissions``), or
    ``None`` for a list every key reading it sees whole. ``prefetch(objects)``: attaches what the
    ORM's queryset prefetches, by prepared statements of its own. ``rendered(row)``: the view's
    representation of a row, as ``(field name, SQL expression over the columns of ``row``)`` pairs in
    the representation's order (the columns are the queryset's, its annotations included), each
    expression of the value itself (text, an integer or NULL, as the driver returns it), for
    PostgreSQL to render the pages (:class:`Rendered`).
    """

    def __init__(self, model: type[M], build: Callable[[], QuerySet[M]], *,
                 merchant_field: str | None = "merchant_id",
                 prefetch: Callable[[list[M]], None] | None = None,
                 rendered: Callable[[str], Sequence[tuple[str, str]]] | None = None) -> None:
        assert prefetch is None or rendered is None, "a rendered row carries its related rows itself"
        self.model, self._build, self._merchant_field, self.prefetch = model, build, merchant_field, prefetch
        self.rendered = rendered
        self.query = functools.lru_cache(maxsize=MAX_SHAPES)(self._prepare)
        self.rendered_query = functools.lru_cache(maxsize=MAX_SHAPES)(self._prepare_rendered)
        _RENDERED.add(self)

    def renders(self) -> bool:
        """Whether the pages are rendered by the database: a ``rendered`` list, on PostgreSQL."""
        return self.rendered is not None and connection.vendor == "postgresql"

    def _column(self, name: str) -> Field:
        field = self.model._meta.get_field(name)  # a name or a foreign key's attname
        assert isinstance(field, Field)
        return field

    def source(self, query: Mapping[str, str], *, api_key: ApiKey,
               filterset_class: type[django_filters.FilterSet] | None) -> PageSource[M] | None:
        """The stand-in for this request's queryset, or ``None`` for the ORM's way."""
        filters: dict[str, Any] = {}
        base_filters = filterset_class.base_filters if filterset_class is not None else {}
        for name in query:
            if name in PAGINATION_PARAMETERS:
                continue
            flt = base_filters.get(name)
            if flt is None:
                return None  # django-filter ignores it; so would this, but rarely enough to leave it there
            try:
                value = flt.field.clean(query.get(name))  # what the FilterSet's form would clean it to
            except ValidationError:
                return None  # the ORM's path answers the 400, exactly
            if value in EMPTY_VALUES:
                continue
            column = flt.field_name
            if column is None or column in filters or not _plain_filter(flt, value):
                return None  # (two filters on one column: both apply in the ORM's, left to it)
            try:
                self._column(column)
            except FieldDoesNotExist:
                return None  # a lookup across a relation
            filters[column] = value
        merchant_id = merchant_scope(api_key) if self._merchant_field is not None else None
        return PageSource(self, filters, merchant_id)

    def _shape(self, scoped: bool, filter_names: tuple[str, ...], ordering: tuple[str, ...],
               position: str | None, start: int, stop: int) -> tuple[Callable[..., QuerySet[M]], dict[str, Field]]:
        """The page's queryset with its slots, and their fields."""
        fields: dict[str, Field] = {f"filter_{name}": self._column(name) for name in filter_names}
        if scoped:
            assert self._merchant_field is not None
            fields["merchant"] = self._column(self._merchant_field)
        if position is not None:
            fields["position"] = self._column(position.split("__")[0])

        def build(**slots: Any) -> QuerySet[M]:
            queryset = self._build()
            if scoped:
                assert self._merchant_field is not None
                queryset = of_merchant(queryset, slots["merchant"], self._merchant_field)
            for name in filter_names:
                queryset = queryset.filter(**{f"{name}__exact": slots[f"filter_{name}"]})
            queryset = queryset.order_by(*ordering)
            if position is not None:
                queryset = queryset.filter(**{position: slots["position"]})
            return queryset[start:stop]

        return build, fields

    def _prepare(self, scoped: bool, filter_names: tuple[str, ...], ordering: tuple[str, ...],
                 position: str | None, start: int, stop: int) -> PreparedQuery[M]:
        build, fields = self._shape(scoped, filter_names, ordering, position, start, stop)
        return PreparedQuery(build, **fields)

    def _prepare_rendered(self, scoped: bool, filter_names: tuple[str, ...], ordering: tuple[str, ...],
                          position: str | None, start: int, stop: int) -> tuple[PreparedRows[M], tuple[str, ...]]:
        """The page's statement, whose rows are the representation's values then the ordering's
        first field, in the page's order; and the representation's field names."""
        assert self.rendered is not None
        build, fields = self._shape(scoped, filter_names, ordering, position, start, stop)
        quote = connection.ops.quote_name

        def column(name: str) -> str:
            return f"page.{quote(self._column(name.lstrip('-')).column)}"

        shown = self.rendered("page")
        values = ", ".join(sql for _, sql in shown)
        order = ", ".join(f"{column(name)} {'DESC' if name.startswith('-') else 'ASC'}" for name in ordering)

        def wrap(sql: str) -> str:
            return f"SELECT {values}, {column(ordering[0])} FROM ({sql}) page ORDER BY {order}"  # noqa: S608 - names and expressions of the code's own

        return PreparedRows(build, wrap=wrap, **fields), tuple(name for name, _ in shown)


class PageSource(Generic[M]):
    """What ``CursorPagination.paginate_queryset`` does to a queryset, recorded: ``order_by(*ordering)``,
    at most one ``filter(<ordering field>__lt|__gt=position)``, then ``[offset:offset + size + 1]``,
    answered by the prepared statement of that shape. Nothing else of a queryset is offered."""

    def __init__(self, pages: PreparedPages[M], filters: dict[str, Any], merchant_id: Any,
                 ordering: tuple[str, ...] = (), position: tuple[str, Any] | None = None) -> None:
        self._pages, self._filters, self._merchant_id = pages, filters, merchant_id
        self._ordering, self._position = ordering, position

    def order_by(self, *ordering: str) -> PageSource[M]:
        return PageSource(self._pages, self._filters, self._merchant_id, tuple(ordering), self._position)

    def filter(self, **lookup: Any) -> PageSource[M]:
        ((name, value),) = lookup.items()
        assert self._ordering and self._position is None and name in (
            f"{self._ordering[0].lstrip('-')}__lt", f"{self._ordering[0].lstrip('-')}__gt"), name
        return PageSource(self._pages, self._filters, self._merchant_id, self._ordering, (name, value))

    @property
    def rendered(self) -> bool:
        """Whether its pages are :class:`Rendered` rows, not instances."""
        return self._pages.renders()

    def __getitem__(self, page: slice) -> list[M] | list[Rendered]:
        assert isinstance(page, slice) and page.step is None and self._ordering
        filter_names = tuple(sorted(self._filters))
        scoped = self._merchant_id is not None
        shape = (scoped, filter_names, self._ordering, None if self._position is None else self._position[0],
                 page.start or 0, page.stop)
        values = {f"filter_{name}": value for name, value in self._filters.items()}
        if scoped:
            values["merchant"] = self._merchant_id
        if self._position is not None:
            values["position"] = self._position[1]
        if self.rendered:
            query, names = self._pages.rendered_query(*shape)
            position = self._ordering[0].lstrip("-")
            # zip() stops at the names: the position, last in the row, is not one of the fields.
            return [Rendered(dict(zip(names, row, strict=False)), position, row[-1]) for row in query.rows(**values)]
        objects = self._pages.query(*shape).fetch(**values)
        if self._pages.prefetch is not None and objects:
            self._pages.prefetch(objects)
        return objects


class Rendered:
    """A row of a page the database rendered: ``data``, its representation as the view's serializer
    gives it, and the ordering's first field under its own name, which is all the cursor
    pagination reads of a row (the position of the next and previous links)."""

    __slots__ = ("data", "__dict__")

    def __init__(self, data: dict, position_field: str, position: Any) -> None:
        self.data = data
        self.__dict__[position_field] = position
