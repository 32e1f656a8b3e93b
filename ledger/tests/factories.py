"""Payouts made the way a refund approval makes them (``journal_refund``), without a refund flow."""
import uuid
from types import SimpleNamespace

from django.db import transaction

from ledger.models import Payout
from ledger.services import journal_refund
from merchants.tests.factories import MerchantFactory


def make_payout(*, amount: int = 5000, merchant_id=None, plan_id=None, user_id=None) -> Payout:
    plan = SimpleNamespace(pk=plan_id or uuid.uuid4(), user_id=user_id or uuid.uuid4(),
                           merchant_id=merchant_id or MerchantFactory.create().pk, outstanding_amount=0)
    refund = SimpleNamespace(pk=uuid.uuid4(), payout_amount=amount)
    with transaction.atomic():
        payout = journal_refund(refund=refund, parts=[], plan=plan)
    assert payout is not None, "a refund with a payout_amount above zero owes a payout"
    return payout
