"""Reads of customers: masks only, the encrypted columns are never loaded."""
import copy
from typing import Any

from django.db import connection
from django.db.models import F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from bnpl.crypto import lookup_hash
from bnpl.dates import datetime_text_sql
from bnpl.money import MoneyModelField, format_minor_sql
from bnpl.prepared import PreparedQuery, built_once
from bnpl.prepared_pages import PreparedPages
from users.models import Customer


def user_queryset() -> QuerySet[Customer]:
    return Customer.objects.defer(*Customer.ENCRYPTED_FIELDS)


_USER = PreparedQuery(lambda pk: user_queryset().filter(pk=pk), pk=Customer._meta.pk)


def user_by_id(*, pk) -> Customer | None:
    """``user_queryset().filter(pk=pk).first()``, its SQL built once (``bnpl.prepared``)."""
    return _USER.get(pk=pk)


def with_phone(*, queryset: QuerySet[Customer], e164: str) -> QuerySet[Customer]:
    """Exact phone match through the keyed hash (never plaintext)."""
    return queryset.filter(phone_hash=lookup_hash(e164))


def _installments() -> Any:
    """The installment model, reached through the reverse relation: this layer imports nothing from
    the plans above it."""
    model = Customer._meta.get_field("installments").related_model
    assert model is not None and not isinstance(model, str)
    return model


def with_credit(*, queryset: QuerySet[Customer]) -> QuerySet[Customer]:
    """Annotates ``outstanding_amount`` (what the user owes on its installments) for
    ``Customer.available_credit``. Only open installments owe anything (the database's
    ``installment_status_matches_outstanding``: a PAID or CANCELLED one owes exactly 0), and only
    confirmed plans have installments, so the sum over the open ones is the rule; the partial index
    ``installment_user_open_owed_idx`` carries every column it reads, so it never visits the table
    and does not grow with a customer's paid history.

    A correlated subquery per user, not a join and GROUP BY: on a page of the users list the
    database sums the installments of the page's users only (PostgreSQL evaluates it after the
    ORDER BY ... LIMIT), where the grouped join summed every user's before sorting (8 req/s on
    20,000 users, bench/RESULTS.md)."""
    installments = _installments()
    owed = (installments._default_manager.filter(user=OuterRef("pk"), status__in=installments.OPEN_STATUSES)
            .order_by().values("user")
            .annotate(total=Sum(F("amount") + F("fee_amount") - F("fee_waived_amount") - F("paid_amount")
                                - F("refunded_amount"))).values("total"))
    return queryset.annotate(outstanding_amount=Coalesce(Subquery(owed), Value(0), output_field=MoneyModelField()))


@built_once
def users_with_credit() -> QuerySet[Customer]:
    """``with_credit(queryset=user_queryset())``: building the credit subquery was a sixth of a users list's Python."""
    return with_credit(queryset=user_queryset())


def shown_sql(*, row: str, outstanding: str) -> list[tuple[str, str]]:
    """A user as the API shows it (``users.api.UserSerializer``: personal data masked, the available
    credit from what the user owes), as ``(field, SQL expression)`` pairs in the serializer's order,
    for PostgreSQL to render: ``row`` is the alias of a row with the customer's columns, ``outstanding``
    the SQL of what the user owes (``with_credit``'s ``outstanding_amount``). Each expression is the
    field's value as the representation carries it (text or NULL). The users list's pages
    and the sweep's ``user.status_changed`` events are built from it; ``users/tests/test_rendered_pages.py``
    and ``debt/tests/test_user_event_sql.py`` hold both to the serializer."""
    limit = f"{row}.credit_limit"
    return [
        ("id", f"{row}.id::text"), ("full_name", f"{row}.full_name"), ("phone_number", f"{row}.phone_mask"),
        ("passport_number", f"{row}.passport_mask"), ("date_of_birth", f"{row}.date_of_birth_mask"),
        ("card_number", f"{row}.card_mask"), ("status", f"{row}.status"),
        ("credit_limit", format_minor_sql(limit)),
        ("available_credit", f"CASE WHEN {limit} IS NULL THEN NULL "
                             f"ELSE {format_minor_sql(f'GREATEST({limit} - {outstanding}, 0)')} END"),
        ("created_at", datetime_text_sql(f"{row}.created_at")),
    ]


def _shown_in_page(row: str) -> list[tuple[str, str]]:
    return shown_sql(row=row, outstanding=f"{row}.{_OUTSTANDING}")


# The users list's pages (``bnpl.prepared_pages``): every key that reads the list sees every user;
# on PostgreSQL each page is rendered by the database.
USER_PAGES = PreparedPages(Customer, users_with_credit, merchant_field=None, rendered=_shown_in_page)

_USER_WITH_CREDIT = PreparedQuery(lambda pk: with_credit(queryset=user_queryset()).filter(pk=pk),
                                  pk=Customer._meta.pk)


def user_with_credit(*, pk) -> Customer | None:
    """``with_credit(queryset=user_queryset()).filter(pk=pk).first()``, its SQL built once (``bnpl.prepared``):
    building the credit subquery in the ORM cost three times the rest of a user read."""
    return _USER_WITH_CREDIT.get(pk=pk)


def with_credit_of(*, user: Customer) -> Customer:
    """``user`` (as loaded, e.g. locked by ``users.locks.user_lock``) with ``with_credit``'s
    ``outstanding_amount``: a copy, the sum read in one fixed statement. For the
    ``user.status_changed`` event a write records under the user's lock, where re-reading the
    user through ``with_credit`` cost more to build than to run. Held equal to ``with_credit`` in
    ``users/tests/test_credit_of.py``."""
    installments = _installments()
    statuses = list(installments.OPEN_STATUSES)
    placeholders = ", ".join(["%s"] * len(statuses))
    with connection.cursor() as cursor:
        sql = ("SELECT COALESCE(SUM(amount + fee_amount - fee_waived_amount - paid_amount - refunded_amount), 0) "  # noqa: S608 - the model's table name
               f"FROM {installments._meta.db_table} WHERE user_id = %s AND status IN ({placeholders})")
        cursor.execute(sql, [Customer._meta.pk.get_db_prep_value(user.pk, connection), *statuses])
        outstanding = cursor.fetchone()[0]
    shown = copy.copy(user)
    setattr(shown, _OUTSTANDING, int(outstanding))  # as with_credit's annotate() sets it on each row
    return shown


_OUTSTANDING = "outstanding_amount"
