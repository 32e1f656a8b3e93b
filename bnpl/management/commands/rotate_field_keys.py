"""Re-encrypt every encrypted column under the newest key of BNPL_FIELD_ENCRYPTION_KEYS."""
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.db.models import Model

from bnpl.crypto import EncryptedTextField, rotate

BATCH = 500


def encrypted_targets() -> list[tuple[type[Model], tuple[str, ...]]]:
    """Every concrete model with encrypted columns, found from the fields themselves, so a column
    added by any app is rotated too (a hand-kept list would leave it on a key about to be dropped)."""
    targets: list[tuple[type[Model], tuple[str, ...]]] = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        fields = tuple(f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField))
        if fields:
            targets.append((model, fields))
    return sorted(targets, key=lambda target: target[0]._meta.label)


def rotate_table(model, fields) -> int:
    """Rotate ``fields`` of every row, in batches, on raw tokens (the ORM would decrypt them)."""
    q = connection.ops.quote_name
    table, pk = q(model._meta.db_table), q(model._meta.pk.column)
    cols = [q(model._meta.get_field(f).column) for f in fields]
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    done, last = 0, None
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            params: list[Any] = [last] if last is not None else []
            where = f"WHERE {pk} > %s" if last is not None else ""
            cursor.execute(f"SELECT {pk}, {', '.join(cols)} FROM {table} {where} "  # noqa: S608
                           f"ORDER BY {pk} LIMIT {BATCH}{lock}", params)
            rows = cursor.fetchall()
            for row_pk, *tokens in rows:
                sets = [(c, rotate(t)) for c, t in zip(cols, tokens, strict=True) if t is not None]
                if sets:
                    cursor.execute(f"UPDATE {table} SET {', '.join(f'{c} = %s' for c, _ in sets)} "  # noqa: S608
                                   f"WHERE {pk} = %s", [v for _, v in sets] + [row_pk])
        if not rows:
            return done
        done, last = done + len(rows), rows[-1][0]


class Command(BaseCommand):
    help = ("Re-encrypt personal data and secrets under the first key of BNPL_FIELD_ENCRYPTION_KEYS. "
            "Run after prepending a new key; drop the old key only after this finishes.")

    def handle(self, *args, **options):
        for model, fields in encrypted_targets():
            self.stdout.write(f"{model._meta.label}: {rotate_table(model, fields)} rows re-encrypted")
