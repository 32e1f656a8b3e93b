"""Plans built through ``plan_create``, so schedules are always the real ones."""
from datetime import date
from decimal import Decimal

from merchants.tests.factories import MerchantFactory
from plans.models import Plan
from plans.services import plan_create
from users.tests.factories import CustomerFactory


def make_plan(*, user=None, merchant=None, total_amount: Decimal | str = "1000.00", installment_count: int = 3,
              start_date: date | None = None) -> Plan:
    return plan_create(user=user or CustomerFactory(), merchant=merchant or MerchantFactory(),
                       total_amount=Decimal(total_amount), installment_count=installment_count,
                       start_date=start_date, bound_backdating=False)
