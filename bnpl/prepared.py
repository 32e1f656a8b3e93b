"""Reads and row locks whose SQL the ORM builds once per process, not on every request
(bench/RESULTS.md, "Request path, third pass").

Building a ``SELECT`` in Django's ORM (the queryset's clones, the lookups, the compiler walking the
expressions) costs more Python than running it: about 800 calls for one merchant by id, 3,800 for
one customer with its credit annotation, where the request path around it is about 1,500. A
:class:`PreparedQuery` is an ordinary queryset written once, with :class:`Slot` placeholders where
the request's values go; its SQL, the columns it selects and their converters are compiled on first
use and kept, and each call only prepares its values (the slot's model field, exactly as a filter
on that field would), runs the statement and builds the instances as ``QuerySet.__iter__`` does
(``Model.from_db``, then the annotations).

The rule that keeps this exact: ``build`` depends on nothing but its slots. Any other value in it
(a setting, the clock, the caller) would be frozen into the kept SQL, so a queryset that needs one
takes it as a slot, or is two prepared queries (a merchant-scoped and an unscoped one). A
``select_related`` or ``prefetch_related`` is refused at compile time: the first would need the
related populators, the second another query, which the caller runs as its own prepared query.
``bnpl/tests/test_prepared.py`` holds each prepared read to the statement and the objects its
queryset gives through the ORM. A ``select_for_update`` queryset is refused outside a transaction on
every call, as Django refuses it when it compiles.

On PostgreSQL a prepared read, and the fixed statements of the writes (:class:`ServerSQL`: the
locks, the inserts, the overdue rule), also run as prepared statements of the server's, so that
PostgreSQL parses and plans each once per connection, not on every request
(:class:`ServerStatements`; ``BNPL_PG_PREPARED_STATEMENTS`` turns it off).

Also here: :class:`PreparedRows` (a statement over a prepared queryset's rows, answered as the
driver's rows: a page whose fields the database renders), :func:`attach_prefetched` (a prepared query's rows
stored as ``prefetch_related`` stores them) and :func:`built_once` (a base queryset built once and
cloned per call).
"""
from __future__ import annotations

import functools
import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import connections
from django.db.models import Expression, Field, Model, QuerySet
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)


class _Marker:
    """What a slot compiles to among the statement's parameters: found again by identity."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<slot {self.name}>"


class Slot(Expression):
    """A value the statement takes per call: ``queryset.filter(pk=Slot("pk", Model._meta.pk))``.
    ``field`` prepares it for the database (``get_db_prep_value``), as a filter on that field would."""

    def __init__(self, name: str, field: Field) -> None:
        super().__init__(output_field=field)
        self.name, self.target, self.marker = name, field, _Marker(name)

    def as_sql(self, compiler, connection):
        return "%s", [self.marker]

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


_PLACEHOLDER = re.compile(r"%[s%]")
_STATEMENT_NUMBERS = itertools.count(1)


def numbered_placeholders(sql: str, literals: Sequence[str | None] | None = None) -> str:
    """psycopg2's ``%s`` placeholders as PostgreSQL's ``$1``, ``$2``... in order. ``%%`` stays as it
    is: psycopg2 still formats the text it is sent in (into ``%``), as it formats every statement.

    ``literals``: one per placeholder, the SQL literal written in its place (its ``%`` escaped as
    ``%%``), or ``None`` for a parameter, numbered among the parameters only."""
    placeholders, numbers = itertools.count(), itertools.count(1)

    def replace(match: re.Match) -> str:
        if match.group() == "%%":
            return "%%"
        literal = None if literals is None else literals[next(placeholders)]
        return f"${next(numbers)}" if literal is None else literal.replace("%", "%%")

    return _PLACEHOLDER.sub(replace, sql)


class ServerStatements:
    """The prepared statements of one PostgreSQL session, kept on Django's connection.

    A :class:`PreparedQuery` read is sent as ``PREPARE bnpl_N AS <its SQL>; EXECUTE bnpl_N (...)`` the
    first time on a session (one round trip, as before) and as ``EXECUTE bnpl_N (...)`` after: the
    server parses, analyses and plans it once per session, not on every request. On this machine that
    halves PostgreSQL's CPU for a plan's installments (bench/RESULTS.md, "Request path, sixth pass").

    What keeps it exact:

    - A prepared statement belongs to its server session, which ends with the psycopg2 connection:
      the record is for one raw connection (``raw``) and starts empty for the next (Django reconnects
      after ``CONN_MAX_AGE``, an error, or a server that went away).
    - ``PREPARE`` is not undone by a rollback, and a failed call that sent it may or may not have
      created it; an ``EXECUTE`` whose tables changed type under it ("cached plan must not change
      result type") fails until it is prepared again. So after any failure of a call that used a
      prepared statement the record is ``dirty``, and the session's next one starts with
      ``DEALLOCATE ALL`` (which never fails, also inside a transaction) and prepares afresh. A read
      outside a transaction that failed only for a stale plan is sent again at once, so a migration
      that changes a column's type under running workers costs no request an error.
    - The statement is the same SQL, with the same values: ``EXECUTE`` coerces each value to the
      type PostgreSQL inferred for its placeholder, the column the value is compared with, as it
      coerces the literal psycopg2 writes into the plain statement.
    - Only the slots are parameters. A constant of the query (``status__in=OPEN_STATUSES``) is
      written into the prepared text as the literal psycopg2 writes into the plain statement, so
      that the plan PostgreSQL keeps for every ``EXECUTE`` knows it: a parameter there would keep
      a partial index (``WHERE status IN ('UPCOMING', 'OVERDUE')``) out of the generic plan, and
      PostgreSQL then plans the statement again on every ``EXECUTE``, as it did for the debt read's
      open installments (bench/RESULTS.md, "Request path, ninth pass"; ``bench/request_cost.py
      --plans`` shows how each statement is planned).
    - Reads that lock (``FOR UPDATE``) and the writes' own statements (:class:`ServerSQL`) are
      prepared too. A write's statements are small and PostgreSQL planned each anew: planning was
      30-50% of their time on the server (``pg_stat_statements``: 0.8 ms of a plan creation's 2.7,
      1.1 of a repayment's 2.4; bench/RESULTS.md, "Request path, eleventh pass"). Inside a
      transaction a failed ``EXECUTE`` is not sent again (the transaction is aborted): a column's
      type changed under a running worker fails that one write, which the client retries.
    - A generic plan is kept until something invalidates it: a change of the tables' schema, or an
      ``ANALYZE`` of one. So the statistics must follow the tables. Autovacuum (on by default)
      analyzes a table that grew from empty within its next naptime; with it off, a regular
      ``ANALYZE`` must run, or plans made while a table was empty (sequential scans) stay while it
      grows, as they did in the bench (bench/RESULTS.md, "Request path, eleventh pass").
    - At most ``LIMIT`` statements per session, the least recently used deallocated in the call that
      prepares one more: list pages have up to ``bnpl.prepared_pages.MAX_SHAPES`` shapes, and a page
      of plans reads its installments by a statement per number of plans, so a session that met
      them all would otherwise hold hundreds of plans, or (capped without eviction) keep the rare
      shapes it met first and run the hot reads plain.
    """

    LIMIT = 64
    __slots__ = ("raw", "names", "dirty")

    def __init__(self, raw: Any) -> None:
        self.raw, self.dirty = raw, False
        self.names: OrderedDict[str, None] = OrderedDict()  # least recently used first

    @classmethod
    def sql_for(cls, connection: Any, compiled: _Compiled | ServerSQL) -> str:
        """The text to send for ``compiled`` on ``connection`` (open): execute, or prepare and execute."""
        state: ServerStatements | None = getattr(connection, "bnpl_server_statements", None)
        if state is None or state.raw is not connection.connection:
            state = connection.bnpl_server_statements = cls(connection.connection)
        name, names = compiled.server_name, state.names
        if name in names and not state.dirty:
            names.move_to_end(name)
            return compiled.execute_sql
        prefix = ""
        if state.dirty:
            prefix, state.dirty = "DEALLOCATE ALL; ", False
            names.clear()
        while len(names) >= cls.LIMIT:
            prefix += f"DEALLOCATE {names.popitem(last=False)[0]}; "
        names[name] = None
        return f"{prefix}{compiled.prepare_sql}; {compiled.execute_sql}"

    @staticmethod
    def failed(connection: Any) -> None:
        state: ServerStatements | None = getattr(connection, "bnpl_server_statements", None)
        if state is not None:
            state.dirty = True


class _Compiled:
    __slots__ = ("alias", "sql", "params", "init_list", "model_slice", "annotations", "converters", "model",
                 "for_update", "server_name", "prepare_sql", "execute_sql", "slot_positions")

    def __init__(self, queryset: QuerySet, slots: dict[str, Slot],
                 wrap: Callable[[str], str] | None = None) -> None:
        prefetches: tuple = getattr(queryset, "_prefetch_related_lookups", ())
        if queryset.query.select_related or prefetches:
            raise ValueError("a prepared query selects one model's rows: no select_related or prefetch_related")
        self.alias = queryset.db
        # Django refuses FOR UPDATE outside a transaction when it compiles; fetch() asks on every call.
        self.for_update = bool(queryset.query.select_for_update) and \
            connections[self.alias].features.has_select_for_update
        compiler = queryset.query.get_compiler(using=self.alias)
        sql, params = compiler.as_sql()
        if wrap is not None:
            # The statement selects what ``wrap`` makes of the queryset's rows. Its own text may not
            # hold a ``%``, which psycopg2 would read as a placeholder.
            wrapped = wrap(sql)
            assert wrapped.count("%") == sql.count("%"), "a wrapping adds no parameter"
            sql = wrapped
        markers = {id(slot.marker): slot for slot in slots.values()}
        # Each parameter: a constant written in ``build``, or (a slot, None) to prepare per call.
        self.sql = sql
        self.params: list[tuple[Slot | None, Any]] = [
            (markers[id(p)], None) if id(p) in markers else (None, p) for p in params]
        missing = set(slots) - {slot.name for slot, _ in self.params if slot is not None}
        if missing:
            raise ValueError(f"slots not in the statement: {sorted(missing)}")
        select, klass_info = compiler.select, compiler.klass_info
        assert klass_info is not None and not klass_info.get("related_klass_infos")
        self.model = klass_info["model"]
        fields = klass_info["select_fields"]
        self.model_slice = slice(fields[0], fields[-1] + 1)
        self.init_list = [column[0].target.attname for column in select[self.model_slice]]
        self.annotations = list(compiler.annotation_col_map.items())
        converters = compiler.get_converters([column[0] for column in select[:compiler.col_count]])
        self.converters = [(position, functions, expression)
                           for position, (functions, expression) in converters.items()]
        # A server-side prepared statement (ServerStatements): PostgreSQL through psycopg2.
        connection = connections[self.alias]
        self.server_name = self.prepare_sql = self.execute_sql = ""
        # The parameters an EXECUTE sends: the slots' (the constants are in the prepared text).
        self.slot_positions = [position for position, (slot, _) in enumerate(self.params) if slot is not None]
        if connection.vendor == "postgresql" and not _is_psycopg3():
            literals = [None if slot is not None else _literal(constant, connection) for slot, constant in self.params]
            self.server_name = f"bnpl_{next(_STATEMENT_NUMBERS)}"
            self.prepare_sql = f"PREPARE {self.server_name} AS {numbered_placeholders(sql, literals)}"
            self.execute_sql = f"EXECUTE {self.server_name}" + (
                f" ({', '.join(['%s'] * len(self.slot_positions))})" if self.slot_positions else "")


def _literal(value: Any, connection: Any) -> str:
    """``value`` as the SQL literal psycopg2 writes for it into a plain statement."""
    from django.db.backends.postgresql.psycopg_any import mogrify  # type: ignore[import-untyped]

    return mogrify("%s", [value], connection)


def _stale_plan(error: BaseException) -> bool:
    """PostgreSQL's "cached plan must not change result type" (feature_not_supported): a column the
    statement selects changed type under it (a migration while workers run)."""
    return getattr(error.__cause__, "pgcode", None) == "0A000"


def _is_psycopg3() -> bool:
    """psycopg 3 binds parameters on the server, where one call cannot carry two statements."""
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3


def _execute_prepared(cursor: Any, statement: _Compiled | ServerSQL, values: list) -> None:
    """``statement`` with ``values`` (in its ``$n`` order) as a server-side prepared statement on
    the cursor's session (:class:`ServerStatements`)."""
    connection = cursor.db
    try:
        cursor.execute(ServerStatements.sql_for(connection, statement), values)
    except BaseException as error:
        ServerStatements.failed(connection)
        if not (connection.get_autocommit() and _stale_plan(error)):
            raise
        # Outside a transaction nothing was changed: the statement again, prepared afresh.
        cursor.execute(ServerStatements.sql_for(connection, statement), values)


_PARAMETER = re.compile(r"%\((\w+)\)s|%[s%]")


class ServerSQL:
    """A fixed statement of the project's own SQL (psycopg2's ``%s`` or ``%(name)s`` placeholders),
    run by ``execute(cursor, params)``: on PostgreSQL as a server-side prepared statement
    (:class:`ServerStatements`), parsed and planned once per session; elsewhere, with
    ``BNPL_PG_PREPARED_STATEMENTS`` off, or with ``prepare=False`` (a statement whose shape is rare,
    a thousand-row INSERT), as the plain statement with the same parameters.

    Every value is a parameter; a constant the plan should know (a status that picks a partial
    index) is written into the text. A named placeholder used twice is one parameter. PostgreSQL
    infers each parameter's type from where it first stands, so one that only an ``IS NULL`` tests
    cannot be typed: write such a test so the parameter meets its column (``COALESCE(id <> %s,
    TRUE)``). ``bnpl/tests/test_server_statements.py`` holds the two ways equal.
    """

    __slots__ = ("sql", "keys", "server_name", "prepare_sql", "execute_sql")

    def __init__(self, sql: str, *, prepare: bool = True) -> None:
        self.sql = sql
        numbers: dict[str | int, int] = {}
        positions = itertools.count()

        def number(match: re.Match) -> str:
            if match.group() == "%%":
                return "%%"
            key = match.group(1) if match.group(1) is not None else next(positions)
            if key not in numbers:
                numbers[key] = len(numbers) + 1
            return f"${numbers[key]}"

        text = _PARAMETER.sub(number, sql)
        self.keys = list(numbers)  # the params' names (or positions), in $n order
        self.server_name = f"bnpl_{next(_STATEMENT_NUMBERS)}" if prepare else ""
        self.prepare_sql = f"PREPARE {self.server_name} AS {text}"
        self.execute_sql = f"EXECUTE {self.server_name}" + (
            f" ({', '.join(['%s'] * len(self.keys))})" if self.keys else "")

    def execute(self, cursor: Any, params: Sequence[Any] | dict[str, Any] = ()) -> None:
        """Run the statement on ``cursor`` (Django's); read its rows from the cursor as after
        ``cursor.execute``."""
        connection = cursor.db
        if self.server_name and connection.vendor == "postgresql" and settings.BNPL_PG_PREPARED_STATEMENTS \
                and not _is_psycopg3():
            values: Any = params
            _execute_prepared(cursor, self, [values[key] for key in self.keys])
        else:
            cursor.execute(self.sql, params)

    def __repr__(self) -> str:
        return f"<ServerSQL {self.server_name or 'plain'}: {self.sql[:60]!r}>"


class PreparedQuery(Generic[M]):
    """``build(**slots)`` -> a queryset of one model, compiled once per database alias.

    ``fetch(**values)`` returns the instances that ``build`` with those values would yield."""

    def __init__(self, build: Callable[..., QuerySet[M]], **fields: Field) -> None:
        self._build, self._fields = build, fields
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    # A statement over the queryset's rows instead of the queryset's own (PreparedRows).
    _wrap: Callable[[str], str] | None = None

    def compile(self, using: str | None = None) -> _Compiled:
        slots = {name: Slot(name, field) for name, field in self._fields.items()}
        queryset = self._build(**slots)
        return _Compiled(queryset if using is None else queryset.using(using), slots, wrap=self._wrap)

    def _for(self, using: str | None) -> _Compiled:
        compiled = self._compiled.get(using or "")
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(using or "") or self.compile(using)
                self._compiled[using or ""] = compiled
        return compiled

    def statement(self, *, using: str | None = None, **values: Any) -> tuple[str, list]:
        """The SQL and parameters ``fetch(**values)`` runs (for the tests that hold it to the ORM's)."""
        return self._statement(self._for(using), values)

    @staticmethod
    def _statement(compiled: _Compiled, values: dict[str, Any]) -> tuple[str, list]:
        connection = connections[compiled.alias]
        params = [constant if slot is None else slot.target.get_db_prep_value(values[slot.name], connection)
                  for slot, constant in compiled.params]
        return compiled.sql, params

    def fetch(self, *, using: str | None = None, **values: Any) -> list[M]:
        """Raises what ``field.get_db_prep_value`` raises for a value the field cannot hold
        (``ValidationError`` for a malformed UUID, as a filter would)."""
        compiled = self._for(using)
        rows = self._rows(compiled, values)
        alias, connection = compiled.alias, connections[compiled.alias]
        model, init_list, model_slice, annotations = (
            compiled.model, compiled.init_list, compiled.model_slice, compiled.annotations)
        objects = []
        for row in rows:
            if compiled.converters:
                row = list(row)
                for position, functions, expression in compiled.converters:
                    value = row[position]
                    for convert in functions:
                        value = convert(value, expression, connection)
                    row[position] = value
            obj = model.from_db(alias, init_list, row[model_slice])
            for name, position in annotations:
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects

    @classmethod
    def _rows(cls, compiled: _Compiled, values: dict[str, Any]) -> Sequence[Sequence[Any]]:
        """The statement's rows as the driver returns them."""
        connection = connections[compiled.alias]
        sql, params = cls._statement(compiled, values)
        if compiled.for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        with connection.cursor() as cursor:
            if compiled.server_name and settings.BNPL_PG_PREPARED_STATEMENTS:
                _execute_prepared(cursor, compiled, [params[position] for position in compiled.slot_positions])
            else:
                cursor.execute(sql, params)
            return cursor.fetchall()

    def get(self, *, using: str | None = None, **values: Any) -> M | None:
        """The one object, or None. More than one is a bug in ``build`` (a slot meant to be unique)."""
        objects = self.fetch(using=using, **values)
        if len(objects) > 1:
            raise model_multiple(objects[0])
        return objects[0] if objects else None


    def one(self, *, using: str | None = None, **values: Any) -> M:
        """The one object, as ``QuerySet.get``: the model's ``DoesNotExist`` when there is none."""
        obj = self.get(using=using, **values)
        if obj is None:
            model: Any = self._for(using).model
            raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
        return obj


class PreparedRows(PreparedQuery[M]):
    """A :class:`PreparedQuery` whose statement is ``wrap(sql)``, a statement over the queryset's SQL
    (as a derived table) that adds no parameter: ``rows(**values)`` returns its rows as the driver
    gives them, no instances built. For a read the database answers in a shape of its own (a page
    whose fields the database renders, ``bnpl.prepared_pages``)."""

    def __init__(self, build: Callable[..., QuerySet[M]], *, wrap: Callable[[str], str], **fields: Field) -> None:
        super().__init__(build, **fields)
        self._wrap = wrap

    def fetch(self, *, using: str | None = None, **values: Any) -> list[M]:
        raise TypeError("a wrapped statement's rows are not the model's: rows()")

    def rows(self, *, using: str | None = None, **values: Any) -> Sequence[Sequence[Any]]:
        return self._rows(self._for(using), values)


def model_multiple(obj: Model) -> Exception:
    model: Any = type(obj)
    return model.MultipleObjectsReturned("a prepared get matched more than one row")


def built_once(build: Callable[[], QuerySet[M]]) -> Callable[[], QuerySet[M]]:
    """``build()`` run once, on first use; each call returns a fresh clone of it (``.all()``), as DRF
    clones a view's ``queryset`` attribute per request. For a base queryset that depends on nothing
    (the prepared rule), whose building costs more than cloning. The built one is never evaluated,
    so it keeps no rows."""
    built: list[QuerySet[M]] = []

    @functools.wraps(build)
    def clone() -> QuerySet[M]:
        if not built:
            built.append(build())  # a race only builds it twice
        return built[0].all()
    return clone


def attach_prefetched(instance: Model, name: str, related: list, queryset: QuerySet) -> None:
    """``related`` (fetched by a prepared query) stored as ``prefetch_related(Prefetch(name, queryset))``
    stores a reverse foreign key's objects on ``instance``: each one's forward cache set to
    ``instance``, and ``instance.<name>.all()`` answering from them, while a further ``filter()`` on
    it still queries, scoped to ``instance`` (the relation's filters applied as Django applies them)."""
    manager = getattr(instance, name)
    for obj in related:
        manager.field.set_cached_value(obj, instance)
    prefetched = manager._apply_rel_filters(queryset)
    prefetched._result_cache = related
    prefetched._prefetch_done = True
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    cache[manager.field.remote_field.cache_name] = prefetched
