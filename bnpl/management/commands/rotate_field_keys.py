"""Re-encrypt every encrypted column under the newest key of BNPL_FIELD_ENCRYPTION_KEYS."""
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from bnpl.crypto import rotate
from bnpl.models import IdempotencyRecord
from merchants.models import Merchant
from users.models import Customer

TARGETS = [
    (Customer, Customer.ENCRYPTED_FIELDS),
    (Merchant, ("webhook_secret",)),
    (IdempotencyRecord, ("response_body",)),
]
BATCH = 500


def rotate_table(model, fields) -> int:
    """Rotate ``fields`` of every row, in batches, on raw tokens (the ORM would decrypt them)."""
    q = connection.ops.quote_name
    table, pk = q(model._meta.db_table), q(model._meta.pk.column)
    cols = [q(model._meta.get_field(f).column) for f in fields]
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    done, last = 0, None
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            where, params = (f"WHERE {pk} > %s", [last]) if last is not None else ("", [])
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
        for model, fields in TARGETS:
            self.stdout.write(f"{model._meta.label}: {rotate_table(model, fields)} rows re-encrypted")
