"""The house rules that a reader can check mechanically: imports run one way, and writes of the
locked models take their locks through the lock helpers."""
import ast
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bnpl.testing.db import statement_run

ROOT = Path(__file__).resolve().parents[2]
# refunds -> debt -> plans -> ledger -> audit -> users/merchants -> bnpl: each app may import only
# those after it.
ORDER = ["refunds", "debt", "plans", "ledger", "audit", "users", "merchants", "bnpl"]
_BASE = {"users", "merchants", "bnpl"}
LOWER = {"refunds": {"debt", "plans", "ledger", "audit"} | _BASE, "debt": {"plans", "ledger", "audit"} | _BASE,
         "plans": {"ledger", "audit"} | _BASE, "ledger": {"audit"} | _BASE, "audit": _BASE,
         "users": {"bnpl"}, "merchants": {"bnpl"}}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


@pytest.mark.parametrize("app", sorted(LOWER))
def test_an_app_imports_no_app_above_it(app):
    offenders = []
    for path in (ROOT / app).rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        upward = (_imports(path) & set(ORDER)) - LOWER[app] - {app}
        if upward:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(upward)}")
    assert offenders == []


def test_select_for_update_only_in_the_lock_helpers():
    offenders = []
    for app in ("users", "plans", "debt", "refunds", "ledger"):
        for path in (ROOT / app).rglob("*.py"):
            if "tests" in path.parts or path.name == "locks.py":
                continue
            if "select_for_update" in path.read_text():
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


@pytest.mark.django_db
def test_no_personal_field_is_read_under_the_user_lock():
    from debt.services import repayment_apply
    from plans.tests.factories import make_plan
    from refunds.services import refund_approve
    from refunds.tests.factories import make_refund

    plan = make_plan(total_amount="300.00")
    with CaptureQueriesContext(connection) as queries:
        repayment_apply(user=plan.user, amount=10_000)
        refund_approve(refund=make_refund(plan=plan, amount="50.00"), decided_by="test")
    run = [statement_run(q["sql"]) for q in queries.captured_queries]  # a prepared lock as it was prepared
    locking = [sql for sql in run if "FOR UPDATE" in sql and '"users_customer"' in sql]
    assert len(locking) >= 3  # repayment, refund creation, approval
    assert not [sql for sql in locking if '"phone_number"' in sql or '"passport_number"' in sql
                or '"card_number"' in sql or '"date_of_birth"' in sql]
