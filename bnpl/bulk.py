"""One multi-row INSERT (or UPDATE) of model instances, without the ORM's per-object work.

``QuerySet.bulk_create`` sends every value of every object through the SQL compiler, decides per
object whether its primary key is set, and on PostgreSQL asks for RETURNING columns: for the dozen
rows of one write (a plan's installments, a posting's journal entries) that was a fifth of the
request's Python. Here each value is prepared exactly as the compiler prepares it (the field's
``pre_save``, then ``get_db_prep_save``) and the rows go out as one parameterised statement.

For models whose primary key is set in Python (a UUID default) or an auto-increment nobody reads
back: the database's own defaults, ``RETURNING`` and signals are not used. The objects are marked
saved (``_state``, Django's documented instance state) as ``bulk_create`` marks them.

``bulk_update`` is ``QuerySet.bulk_update`` the same way: Django writes one ``CASE WHEN pk = ...``
per field per object, built through expressions (a third of a repayment's Python); here the new
values are one ``VALUES`` list joined on the primary key.

Each statement's text depends only on the model, the columns and the number of rows: it is kept per
shape as a :class:`bnpl.prepared.ServerSQL`, which PostgreSQL prepares once per session (a write's
dozen rows); a shape of more than ``PREPARED_ROWS`` rows (the sweep's batches) runs as a plain
statement.
"""
import datetime
import uuid
from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from typing import Any, TypeVar

from django.db import connections, router
from django.db.models import (
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    Field,
    ForeignKey,
    IntegerField,
    Model,
    TextField,
    UUIDField,
)

from bnpl.prepared import ServerSQL

M = TypeVar("M", bound=Model)
# The most rows a statement of one shape has for PostgreSQL to keep it prepared: a write's own rows
# (a plan's 12 installments, a posting's entries); a batch of thousands is planned where it runs.
PREPARED_ROWS = 64
Prepare = Callable[[Any, Any], Any]  # (value, connection) -> the value as the database takes it


def _inserted_fields(model: type[Model]) -> list:
    """Every concrete field but an auto-increment primary key (the database numbers it)."""
    return [f for f in model._meta.concrete_fields if not (f.primary_key and getattr(f, "db_returning", False))]


def _is(field: Field, owner: type, *methods: str) -> bool:
    """``field``'s class takes each of ``methods`` from ``owner`` unchanged (no subclass overrides it)."""
    return all(getattr(type(field), name) is getattr(owner, name) for name in methods)


def preparer(field: Field) -> Prepare:
    """``field.get_db_prep_save(value, connection)``, with the values a write's rows are made of
    answered at once: for each, the exact steps Django's own methods take for that type (an ``int``
    of an integer column goes straight to the backend's ``adapt_integerfield_value``, a ``UUID`` is
    itself or its hex, a ``str`` of a text column is itself...), and only when the field's class has
    not overridden them. Any other value, or field, goes through ``get_db_prep_save`` itself.
    ``bnpl/tests/test_bulk.py`` holds the two equal for every field these inserts write."""
    def full(value, connection):
        return field.get_db_prep_save(value, connection)

    if isinstance(field, ForeignKey):
        if not _is(field, ForeignKey, "get_db_prep_save"):
            return full
        target = preparer(field.target_field)

        def foreign(value, connection):
            return None if value is None else (target(value, connection) if type(value) is not str else
                                               full(value, connection))  # "" is NULL for some targets
        return foreign
    if not _is(field, Field, "get_db_prep_save"):
        return full
    if isinstance(field, IntegerField) and _is(field, IntegerField, "get_prep_value", "get_db_prep_value"):
        internal = field.get_internal_type()

        def integer(value, connection):
            if type(value) is int:
                return connection.ops.adapt_integerfield_value(value, internal)
            return full(value, connection)
        return integer
    if isinstance(field, UUIDField) and _is(field, UUIDField, "get_db_prep_value"):
        def uuid_(value, connection):
            if type(value) is uuid.UUID:
                return value if connection.features.has_native_uuid_field else value.hex
            return None if value is None else full(value, connection)
        return uuid_
    text_methods = ("get_prep_value", "to_python", "get_db_prep_value")
    if (isinstance(field, CharField) and _is(field, CharField, *text_methods)) \
            or (isinstance(field, TextField) and _is(field, TextField, *text_methods)):
        def text(value, connection):  # a str subclass too (a status's TextChoices member): to_python keeps it
            return value if value is None or isinstance(value, str) else full(value, connection)
        return text
    if isinstance(field, BooleanField) and _is(field, BooleanField, "get_prep_value", "to_python", "get_db_prep_value"):
        def boolean(value, connection):
            return value if value is None or type(value) is bool else full(value, connection)
        return boolean
    if isinstance(field, DateTimeField) and _is(field, DateTimeField, "get_prep_value", "to_python",
                                                 "get_db_prep_value"):
        def moment(value, connection):
            if type(value) is datetime.datetime and value.tzinfo is not None:  # aware: no conversion, no warning
                return connection.ops.adapt_datetimefield_value(value)
            return None if value is None else full(value, connection)
        return moment
    if type(field) is DateField:
        def day(value, connection):
            if type(value) is datetime.date:
                return connection.ops.adapt_datefield_value(value)
            return None if value is None else full(value, connection)
        return day
    return full


@cache
def _preparers(model: type[Model]) -> list[tuple[Field, Prepare]]:
    return [(field, preparer(field)) for field in _inserted_fields(model)]


def insert_values(connection, model: type[Model], objects: Sequence[Model]) -> tuple[str, str, list]:
    """``(columns, values, params)`` of an ``INSERT INTO <table> (columns) VALUES values`` of
    ``objects``; every value a parameter, prepared as the compiler prepares it (``pre_save``, then
    ``get_db_prep_save``, through ``preparer``)."""
    columns, values = insert_shape(connection.alias, model, len(objects))
    return columns, values, insert_params(connection, model, objects)


@lru_cache(maxsize=256)
def insert_shape(alias: str, model: type[Model], rows: int) -> tuple[str, str]:
    """``(columns, values)`` of ``insert_values`` for ``rows`` objects: the text, which depends on
    nothing else."""
    fields = _preparers(model)
    columns = ", ".join(connections[alias].ops.quote_name(f.column) for f, _ in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return columns, ", ".join([row] * rows)


def insert_params(connection, model: type[Model], objects: Sequence[Model]) -> list:
    return [prepare(f.pre_save(obj, True), connection) for obj in objects for f, prepare in _preparers(model)]


@lru_cache(maxsize=256)
def _insert_statement(alias: str, model: type[Model], rows: int, skip_conflicts: bool) -> ServerSQL:
    columns, values = insert_shape(alias, model, rows)
    conflict = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
    # Table and column names come from the model; every value is a parameter.
    return ServerSQL(f"INSERT INTO {model._meta.db_table} ({columns}) VALUES {values}{conflict}",  # noqa: S608
                     prepare=rows <= PREPARED_ROWS)


def bulk_insert(model: type[Model], objects: Sequence[Model], *, skip_conflicts: bool = False) -> int:
    """Insert ``objects`` in one statement (a few, if they exceed the database's parameter limit);
    returns how many rows were written.

    ``skip_conflicts``: a row that would break a unique constraint is left out (``ON CONFLICT DO
    NOTHING``, PostgreSQL and SQLite) instead of raising, so the caller learns of a race on a unique
    key without a savepoint to roll back to; such an object is not marked saved. With a batch of
    one (the use it is for), the returned count says which.
    """
    if not objects:
        return 0
    alias = router.db_for_write(model)
    connection = connections[alias]
    batch = max(1, (connection.features.max_query_params or 65535) // len(_inserted_fields(model)))
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objects), batch):
            chunk = objects[start:start + batch]
            statement = _insert_statement(alias, model, len(chunk), skip_conflicts)
            statement.execute(cursor, insert_params(connection, model, chunk))
            written += cursor.rowcount
    if written == len(objects):
        for obj in objects:
            obj._state.adding, obj._state.db = False, alias
    return written


def insert_one(obj: M) -> M:
    """``obj`` inserted as ``Model.objects.create`` would (``bulk_insert``'s rules: a primary key set
    in Python, or an auto-increment nobody reads back; no signals, which this project does not use),
    without the ORM's per-object work: the row of a write that creates one object."""
    written = bulk_insert(type(obj), [obj])
    assert written == 1
    return obj


def bulk_update(model: type[Model], objects: Sequence[Model], fields: Sequence[str]) -> int:
    """Write ``fields`` of ``objects`` (their values as they are in memory; no ``pre_save``, as
    ``QuerySet.bulk_update``) in one statement per batch; returns how many rows matched.

    ``UPDATE <table> SET f = v.f ... FROM (VALUES ...) AS v (pk, f...) WHERE pk = v.pk``: PostgreSQL,
    and SQLite >= 3.33. On PostgreSQL every value is cast to its column's type (a
    parameter in ``VALUES`` would otherwise be text); SQLite takes the value as it comes.
    """
    if not objects:
        return 0
    alias = router.db_for_write(model)
    connection = connections[alias]
    pk = model._meta.pk
    assert pk is not None
    concrete = {f.name: f for f in model._meta.concrete_fields}
    columns = [pk, *(concrete[name] for name in fields)]
    batch = max(1, (connection.features.max_query_params or 65535) // len(columns))
    matched = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objects), batch):
            chunk = objects[start:start + batch]
            params = [f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in chunk for f in columns]
            _update_statement(alias, model, tuple(fields), len(chunk)).execute(cursor, params)
            matched += cursor.rowcount
    return matched


@lru_cache(maxsize=256)
def _update_statement(alias: str, model: type[Model], fields: tuple[str, ...], rows: int) -> ServerSQL:
    connection = connections[alias]
    pk = model._meta.pk
    assert pk is not None
    concrete = {f.name: f for f in model._meta.concrete_fields}
    columns = [pk, *(concrete[name] for name in fields)]
    quote = connection.ops.quote_name
    table, key = quote(model._meta.db_table), quote(pk.column)
    if connection.vendor == "postgresql":
        row = "(" + ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in columns) + ")"
        source = "v (" + ", ".join(quote(f.column) for f in columns) + ")"
        refs = [f"v.{quote(f.column)}" for f in columns]
    else:  # SQLite names a VALUES list's columns column1, column2, ...
        row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        source, refs = "v", [f"v.column{n}" for n in range(1, len(columns) + 1)]
    assignments = ", ".join(f"{quote(f.column)} = {ref}" for f, ref in zip(columns[1:], refs[1:], strict=True))
    # Names come from the model; every value is a parameter.
    return ServerSQL(f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * rows)}) "  # noqa: S608
                     f"AS {source} WHERE {table}.{key} = {refs[0]}", prepare=rows <= PREPARED_ROWS)
