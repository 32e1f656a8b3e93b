"""The one-time conversion of ``DECIMAL`` amount columns into integer minor units.

Used by the apps' migrations that turn every amount into a :class:`bnpl.money.MoneyModelField`.
The operation runs before the ``AlterField``s that change the columns' declared type:

- PostgreSQL: ``ALTER COLUMN ... TYPE bigint USING ROUND(c * 10^e)`` in one rewrite per table
  (``numeric`` is exact, and scaling in place could overflow ``numeric(14,2)``); the CHECK
  constraints still hold (every amount of a row is scaled alike), and the ``AlterField`` that
  follows finds the columns already ``bigint``.
- SQLite: ``UPDATE ... SET c = ROUND(c * 10^e)``. SQLite kept the amounts as binary floating
  point, so a stored 0.3 is 0.29999999999999998: ``ROUND`` of the scaled value is the exact
  amount (the error is far below half a minor unit for anything under 10^12). Rows that the
  float sums left inconsistent (a plan whose installments are all PAID still ACTIVE, issue 10)
  fail the CHECK constraints once exact, so the CHECKs are off for this one statement and the
  caller repairs those rows (``sqlite_repair``) before the ``AlterField`` rebuilds the table and
  checks every row again.

Amounts with more places than ``BNPL_CURRENCY`` has (a JPY deployment with "10.50" stored)
stop the migration rather than lose money. The reverse divides again; it is exact, but on
PostgreSQL it needs every amount to fit the old ``numeric(14,2)`` again.
"""
from collections.abc import Callable

from django.db import migrations

from bnpl.money import exponent

# A tolerance for SQLite's floats; on PostgreSQL the comparison is exact anyway.
_LOST_PLACES = "{c} IS NOT NULL AND ABS({c} * {f} - ROUND({c} * {f})) > 0.001"


def _factor() -> int:
    return 10 ** exponent()


def to_minor_units(tables: dict[str, list[str]],
                   sqlite_repair: Callable | None = None) -> migrations.RunPython:
    """A ``RunPython`` scaling ``{table: [amount columns]}`` to minor units (and back)."""

    def forward(apps, schema_editor):
        factor, quote = _factor(), schema_editor.quote_name
        with schema_editor.connection.cursor() as cursor:
            for table, columns in tables.items():
                for column in columns:
                    cursor.execute(f"SELECT 1 FROM {quote(table)} WHERE "  # noqa: S608 - names from the migration
                                   f"{_LOST_PLACES.format(c=quote(column), f=factor)} LIMIT 1")
                    if cursor.fetchone():
                        raise RuntimeError(
                            f"{table}.{column} holds amounts with more places than BNPL_CURRENCY allows "
                            f"({exponent()}); converting them would lose money. Set BNPL_CURRENCY to the "
                            "currency the data is in.")
            for table, columns in tables.items():
                if schema_editor.connection.vendor == "postgresql":
                    alters = ", ".join(f"ALTER COLUMN {quote(c)} TYPE bigint USING ROUND({quote(c)} * {factor})::bigint"
                                       for c in columns)
                    cursor.execute(f"ALTER TABLE {quote(table)} {alters}")
                else:
                    sets = ", ".join(f"{quote(c)} = ROUND({quote(c)} * {factor})" for c in columns)
                    cursor.execute("PRAGMA ignore_check_constraints = ON")
                    try:
                        cursor.execute(f"UPDATE {quote(table)} SET {sets}")  # noqa: S608
                    finally:
                        cursor.execute("PRAGMA ignore_check_constraints = OFF")
            if sqlite_repair is not None and schema_editor.connection.vendor != "postgresql":
                cursor.execute("PRAGMA ignore_check_constraints = ON")
                try:
                    sqlite_repair(cursor)
                finally:
                    cursor.execute("PRAGMA ignore_check_constraints = OFF")

    def backward(apps, schema_editor):
        factor, quote = _factor(), schema_editor.quote_name
        with schema_editor.connection.cursor() as cursor:
            for table, columns in tables.items():
                sets = ", ".join(f"{quote(c)} = {quote(c)} / {factor}.0" for c in columns)
                if schema_editor.connection.vendor == "postgresql":
                    sets = ", ".join(f"{quote(c)} = {quote(c)} / {factor}::numeric" for c in columns)
                cursor.execute(f"UPDATE {quote(table)} SET {sets}")  # noqa: S608

    return migrations.RunPython(forward, backward, elidable=False)
