"""``bnpl.prepared.ServerStatements``: the API's reads as PostgreSQL prepared statements.

A read is prepared once per server session and executed after; whatever went wrong on a session
(a failed call, tables changed under a prepared plan, a new connection) never leaves a statement
that answers differently or fails for good. ``test_prepared.py`` holds every prepared read to its
queryset through the ORM, and on PostgreSQL it runs through these statements.
"""
import pytest
from django.db import DatabaseError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings

from bnpl.models import ApiKey, Role
from bnpl.prepared import PreparedQuery, ServerSQL, ServerStatements, numbered_placeholders
from bnpl.testing.db import held_transaction, statement_run
from merchants.models import Merchant
from merchants.selectors import merchant_visible_to
from merchants.tests.factories import MerchantFactory
from plans.tests.factories import make_plan
from users.selectors import user_by_id, user_with_credit
from users.tests.factories import CustomerFactory

OPERATOR = ApiKey(role=Role.OPERATOR)


def test_placeholders_are_numbered_in_order_and_a_literal_percent_stays_escaped():
    sql = "SELECT a FROM t WHERE b = %s AND c LIKE 'x%%' AND d IN (%s, %s)"
    assert numbered_placeholders(sql) == "SELECT a FROM t WHERE b = $1 AND c LIKE 'x%%' AND d IN ($2, $3)"
    assert numbered_placeholders("SELECT 1") == "SELECT 1"


def test_the_literals_given_are_written_in_place_and_only_the_rest_numbered():
    sql = "SELECT a FROM t WHERE b = %s AND s IN (%s, %s) AND c LIKE 'x%%' AND d = %s"
    assert (numbered_placeholders(sql, [None, "'UPCOMING'", "'50% off'", None])
            == "SELECT a FROM t WHERE b = $1 AND s IN ('UPCOMING', '50%% off') AND c LIKE 'x%%' AND d = $2")


def _read(merchant: Merchant) -> tuple[str, Merchant | None]:
    with CaptureQueriesContext(connection) as queries:
        got = merchant_visible_to(api_key=OPERATOR, pk=merchant.pk)
    assert len(queries) == 1  # preparing costs no round trip of its own
    return queries.captured_queries[0]["sql"], got


def _prepared_on_server() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def _fresh_session() -> None:
    """The session as a new connection finds it: nothing prepared, nothing recorded."""
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection.bnpl_server_statements = None  # type: ignore[attr-defined]


@pytest.fixture
def pg(db):
    if connection.vendor != "postgresql":
        pytest.skip("server-side prepared statements are PostgreSQL's")
    _fresh_session()
    yield
    ServerStatements.failed(connection)  # a test that changed tables leaves no plan behind for the next


@pytest.mark.postgresql_only
def test_a_read_is_prepared_once_per_session_then_executed(pg):
    merchant = MerchantFactory.create(name="Prepared once")
    first, got = _read(merchant)
    assert first.startswith("PREPARE bnpl_")
    name = first.split("PREPARE ", 1)[1].split(" ", 1)[0]
    assert got is not None and got.pk == merchant.pk and got.name == "Prepared once"
    # The server holds this one statement (with the text of the call that prepared it), no other.
    assert _prepared_on_server() == {name: first}
    assert '"merchants_merchant"."id" = ($1)' in _prepared_on_server()[name]
    second, again = _read(merchant)
    assert second.startswith(f"EXECUTE {name} (") and "SELECT" not in second
    assert again is not None and again.pk == merchant.pk and again.name == "Prepared once"
    missing = MerchantFactory.build()
    assert _read(missing)[1] is None  # no row is still no row


@pytest.mark.postgresql_only
def test_tables_changed_under_a_prepared_plan_fail_one_call_then_it_is_prepared_again(pg):
    merchant = MerchantFactory.create(name="Altered")
    _read(merchant)
    with connection.cursor() as cursor:  # a migration's change of a selected column's type
        cursor.execute("ALTER TABLE merchants_merchant ALTER COLUMN name TYPE text")
    with pytest.raises(DatabaseError, match="cached plan must not change result type"), transaction.atomic():
        _read(merchant)
    sql, got = _read(merchant)
    assert sql.startswith("DEALLOCATE ALL; PREPARE bnpl_")
    assert got is not None and got.name == "Altered"
    assert _read(merchant)[0].startswith("EXECUTE bnpl_")


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_stale_plan_costs_the_read_no_error():
    if connection.vendor != "postgresql":
        pytest.skip("server-side prepared statements are PostgreSQL's")
    merchant = MerchantFactory.create(name="Migrated under me")
    _fresh_session()
    _read(merchant)
    try:
        with connection.cursor() as cursor:  # committed, as a migration under running workers
            cursor.execute("ALTER TABLE merchants_merchant ALTER COLUMN name TYPE text")
        with CaptureQueriesContext(connection) as queries:
            got = merchant_visible_to(api_key=OPERATOR, pk=merchant.pk)
        assert got is not None and got.name == "Migrated under me"
        sent = [q["sql"] for q in queries.captured_queries]
        assert len(sent) == 2 and sent[0].startswith("EXECUTE bnpl_")  # failed: stale plan
        assert sent[1].startswith("DEALLOCATE ALL; PREPARE bnpl_")  # sent again, prepared afresh
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE merchants_merchant ALTER COLUMN name TYPE varchar(200)")
        ServerStatements.failed(connection)


@pytest.mark.postgresql_only
def test_a_failed_first_call_leaves_no_statement_that_would_refuse_the_next(pg):
    merchant = MerchantFactory.create()
    _read(merchant)
    with pytest.raises(DatabaseError, match="current transaction is aborted"), transaction.atomic():
        with connection.cursor() as cursor, pytest.raises(DatabaseError):
            cursor.execute("SELECT 1 / 0")
        _read(merchant)  # EXECUTE in the aborted transaction
    sql, got = _read(merchant)
    assert sql.startswith("DEALLOCATE ALL; PREPARE bnpl_")  # whatever the failed call left on the server
    assert got is not None and got.pk == merchant.pk


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_new_connection_is_a_new_session_and_prepares_afresh():
    if connection.vendor != "postgresql":
        pytest.skip("server-side prepared statements are PostgreSQL's")
    merchant = MerchantFactory.create()
    _fresh_session()
    _read(merchant)
    assert _read(merchant)[0].startswith("EXECUTE bnpl_")
    connection.close()
    sql, got = _read(merchant)
    assert sql.startswith("PREPARE bnpl_")  # nothing to deallocate on a new session
    assert got is not None and got.pk == merchant.pk
    assert _read(merchant)[0].startswith("EXECUTE bnpl_")


@pytest.mark.postgresql_only
def test_past_the_limit_the_least_recently_used_statement_is_deallocated_in_the_same_call(pg, monkeypatch):
    merchant, user = MerchantFactory.create(), CustomerFactory.create()
    monkeypatch.setattr(ServerStatements, "LIMIT", 2)
    merchant_sql = _read(merchant)[0]
    merchant_name = merchant_sql.split("PREPARE ", 1)[1].split(" ", 1)[0]
    _read(MerchantFactory.create())  # the same statement: nothing more prepared
    with CaptureQueriesContext(connection) as queries:
        assert user_by_id(pk=user.pk).pk == user.pk
    user_name = queries.captured_queries[0]["sql"].split("PREPARE ", 1)[1].split(" ", 1)[0]
    assert set(_prepared_on_server()) == {merchant_name, user_name}
    assert _read(merchant)[0].startswith(f"EXECUTE {merchant_name} (")  # now the most recently used
    with CaptureQueriesContext(connection) as queries:
        assert user_with_credit(pk=user.pk).pk == user.pk
    assert queries.captured_queries[0]["sql"].startswith(f"DEALLOCATE {user_name}; PREPARE bnpl_")
    assert len(queries) == 1 and len(_prepared_on_server()) == 2 and merchant_name in _prepared_on_server()
    with CaptureQueriesContext(connection) as queries:
        assert user_by_id(pk=user.pk).pk == user.pk  # prepared again, the merchant's read deallocated
    assert queries.captured_queries[0]["sql"].startswith(f"DEALLOCATE {merchant_name}; PREPARE {user_name} AS")


@pytest.mark.postgresql_only
def test_with_the_setting_off_a_read_runs_plain(pg):
    merchant = MerchantFactory.create()
    with override_settings(BNPL_PG_PREPARED_STATEMENTS=False):
        sql, got = _read(merchant)
        assert _read(merchant)[0] == sql
    assert sql.startswith("SELECT ") and got is not None and got.pk == merchant.pk
    assert _prepared_on_server() == {}


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_read_that_locks_is_prepared_and_its_execute_takes_the_lock():
    """A lock's EXECUTE locks what the plain ``SELECT ... FOR UPDATE`` locks: another session's
    ``FOR UPDATE NOWAIT`` on the row is refused while the transaction holds it, and granted after."""
    if connection.vendor != "postgresql":
        pytest.skip("server-side prepared statements are PostgreSQL's")
    from users.locks import user_lock

    first, target = CustomerFactory.create(), CustomerFactory.create()

    def lock_by_execute():
        _fresh_session()
        with CaptureQueriesContext(connection) as queries:
            assert user_lock(first.pk).pk == first.pk  # prepares the statement
            assert user_lock(target.pk).pk == target.pk  # EXECUTE only
        sent = [q["sql"] for q in queries.captured_queries]
        return sent, statement_run(sent[1])

    with held_transaction(lock_by_execute) as (sent, run):
        assert sent[0].startswith("PREPARE bnpl_") and sent[1].startswith("EXECUTE bnpl_")
        assert run.endswith("FOR UPDATE") and "SELECT" not in sent[1]
        with pytest.raises(OperationalError, match="could not obtain lock"), transaction.atomic(), \
                connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM users_customer WHERE id = %s FOR UPDATE NOWAIT", [target.pk])
    with transaction.atomic(), connection.cursor() as cursor:  # released with the other transaction
        cursor.execute("SELECT 1 FROM users_customer WHERE id = %s FOR UPDATE NOWAIT", [target.pk])
        assert cursor.fetchone() == (1,)


# --- The writes' own statements (ServerSQL) ------------------------------------------------------

def test_a_named_parameter_used_twice_is_one_parameter_and_a_literal_percent_stays():
    statement = ServerSQL("SELECT %(a)s, %(b)s FROM t WHERE c = %(a)s AND d LIKE 'x%%'")
    assert statement.prepare_sql.endswith("AS SELECT $1, $2 FROM t WHERE c = $1 AND d LIKE 'x%%'")
    assert statement.execute_sql == f"EXECUTE {statement.server_name} (%s, %s)" and statement.keys == ["a", "b"]
    positional = ServerSQL("SELECT %s, %s")
    assert positional.prepare_sql.endswith("AS SELECT $1, $2") and positional.keys == [0, 1]
    bare = ServerSQL("SELECT 1")
    assert bare.execute_sql == f"EXECUTE {bare.server_name}" and bare.keys == []


_PAIR = "SELECT %(n)s::int + 1, %(word)s || '%%', %(n)s::int * 2"


def _run(statement: ServerSQL, params) -> tuple[str, tuple]:
    with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
        statement.execute(cursor, params)
        row = cursor.fetchone()
    assert len(queries) == 1
    return queries.captured_queries[0]["sql"], row


@pytest.mark.postgresql_only
def test_a_statement_is_prepared_once_then_executed_and_answers_as_the_plain_one(pg):
    statement = ServerSQL(_PAIR)
    first, row = _run(statement, {"n": 20, "word": "it's"})
    assert first.startswith(f"PREPARE {statement.server_name} AS SELECT $1::int + 1, $2 || '%', $1::int * 2; "
                            f"EXECUTE {statement.server_name} (20, 'it''s')")
    assert row == (21, "it's%", 40)
    second, again = _run(statement, {"n": 3, "word": None})
    assert second == f"EXECUTE {statement.server_name} (3, NULL)" and again == (4, None, 6)
    with connection.cursor() as cursor:
        cursor.execute(_PAIR, {"n": 3, "word": None})
        assert cursor.fetchone() == again
    assert set(_prepared_on_server()) == {statement.server_name}


@pytest.mark.postgresql_only
def test_a_rare_shape_the_setting_off_and_sqlite_run_the_plain_statement(pg):
    rare = ServerSQL(_PAIR, prepare=False)
    assert _run(rare, {"n": 1, "word": "a"}) == ("SELECT 1::int + 1, 'a' || '%', 1::int * 2", (2, "a%", 2))
    with override_settings(BNPL_PG_PREPARED_STATEMENTS=False):
        sql, row = _run(ServerSQL(_PAIR), {"n": 1, "word": "a"})
    assert sql.startswith("SELECT ") and row == (2, "a%", 2)
    assert _prepared_on_server() == {}


@pytest.mark.postgresql_only
def test_a_write_statement_reports_its_rows_and_a_failure_leaves_the_session_clean(pg):
    """``cursor.rowcount`` after an EXECUTE is the statement's own (``bulk_insert`` counts on it),
    and a failed EXECUTE inside a transaction has the next statement start from nothing."""
    user = CustomerFactory.create()
    rename = ServerSQL("UPDATE users_customer SET full_name = %s WHERE id = %s")
    with connection.cursor() as cursor:
        rename.execute(cursor, ["Once", user.pk])
        assert cursor.rowcount == 1
        rename.execute(cursor, ["Twice", user.pk])
        assert cursor.rowcount == 1
        rename.execute(cursor, ["Nobody", CustomerFactory.build().pk])
        assert cursor.rowcount == 0
    user.refresh_from_db()
    assert user.full_name == "Twice"
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        rename.execute(cursor, ["x" * 10_000, user.pk])  # longer than the column
    sql, _ = _run(ServerSQL("SELECT %s::int"), [7])
    assert sql.startswith("DEALLOCATE ALL; PREPARE bnpl_")


@pytest.mark.postgresql_only
def test_a_plan_creation_plans_none_of_its_statements_on_a_warm_session(pg, client_api):
    """Every statement of the API's plan creation, past the first on a session, is an EXECUTE of a
    statement PostgreSQL keeps (or a savepoint): bench/RESULTS.md, "Request path, eleventh pass"."""
    merchant = MerchantFactory.create()
    client = client_api

    def create(idempotency_key: str) -> list[str]:
        user = CustomerFactory.create()
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/api/v1/plans/", {"user_id": str(user.pk), "merchant_id": str(merchant.pk),
                                                      "total_amount": "1200.00", "installment_count": 12},
                                   format="json", HTTP_IDEMPOTENCY_KEY=idempotency_key)
        assert response.status_code == 201, response.content
        return [q["sql"] for q in queries.captured_queries]

    create("first")
    sent = create("second")
    plain = [sql for sql in sent if not sql.startswith(("EXECUTE bnpl_", "SAVEPOINT ", "RELEASE SAVEPOINT "))]
    assert plain == [] and len(sent) >= 12
def _prepared_name(sql: str) -> str:
    return sql.split("PREPARE ", 1)[1].split(" ", 1)[0]


@pytest.mark.postgresql_only
def test_a_constant_of_the_query_is_in_the_prepared_text_and_only_the_slots_are_sent(pg):
    """The debt read's open installments: the statuses written into the statement, the user its one parameter."""
    from debt.selectors import open_installments

    user = CustomerFactory.create()
    make_plan(user=user)
    for attempt in range(2):
        with CaptureQueriesContext(connection) as queries:
            rows = open_installments(user_id=user.pk)
        assert len(rows) == 3 and {row.user_id for row in rows} == {user.pk}
        sql = queries.captured_queries[0]["sql"]
        if attempt == 0:
            prepared = _prepared_on_server()[_prepared_name(sql)]
            assert "IN ('UPCOMING', 'OVERDUE')" in prepared and "$1" in prepared and "$2" not in prepared
        else:
            assert sql.startswith("EXECUTE bnpl_") and sql.endswith(f"('{user.pk}'::uuid)")


@pytest.mark.postgresql_only
def test_a_constant_with_quotes_and_percent_signs_reads_as_through_the_orm(pg):
    name = "50% o'clock'); DROP TABLE merchants_merchant; --"
    read = PreparedQuery(lambda pk: Merchant.objects.filter(pk=pk, name=name), pk=Merchant._meta.pk)
    named, other = MerchantFactory.create(name=name), MerchantFactory.create(name="50% o")
    for _ in range(2):  # prepared, then executed
        assert [m.pk for m in read.fetch(pk=named.pk)] == [named.pk]
        assert read.fetch(pk=other.pk) == []
    assert Merchant.objects.filter(name=name).count() == 1


@pytest.mark.postgresql_only
def test_the_plan_kept_for_every_execute_uses_the_partial_indexes(pg):
    """With the constants in the text, the plan PostgreSQL keeps for a statement (its generic plan)
    reads a user's open installments from ``installment_user_open_owed_idx``, and sums what the
    user owes from it alone; with the statuses as parameters it could not use the index at all."""
    from debt.selectors import open_installments

    user = CustomerFactory.create()
    make_plan(user=user)
    with CaptureQueriesContext(connection) as queries:
        open_installments(user_id=user.pk)
        user_with_credit(pk=user.pk)
    names = [_prepared_name(q["sql"]) for q in queries.captured_queries]
    with connection.cursor() as cursor:
        # Local to the test's transaction: the kept plan, and no scan that avoids the indexes.
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off; "
                       "SET LOCAL enable_bitmapscan = off")
        plans = []
        for name in names:
            cursor.execute(f"EXPLAIN EXECUTE {name} (%s)", [str(user.pk)])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    installments_plan, credit_plan = plans
    assert "installment_user_open_owed_idx" in installments_plan
    assert "Index Only Scan using installment_user_open_owed_idx" in credit_plan
