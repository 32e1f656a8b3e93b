"""Plans built through ``plan_create``, so schedules are always the real ones."""
from datetime import date
from decimal import Decimal

from bnpl.money import to_minor
from merchants.tests.factories import MerchantFactory
from plans.models import Plan
from plans.services import plan_create
from users.tests.factories import CustomerFactory


def minor(amount: int | str | Decimal) -> int:
    """A test amount as minor units: an ``int`` already is; ``"1000.00"`` is read as the wire form."""
    return amount if isinstance(amount, int) else to_minor(Decimal(amount))


def make_plan(*, user=None, merchant=None, total_amount: int | str = "1000.00", installment_count: int = 3,
              start_date: date | None = None) -> Plan:
    created = plan_create(user=user or CustomerFactory.create(), merchant=merchant or MerchantFactory.create(),
                          total_amount=minor(total_amount), installment_count=installment_count,
                          start_date=start_date)
    assert created.plan is not None, created.refusal
    return created.plan
