"""The writes that answer through ``bnpl.serializers.rendered`` (a serializer built once per class)
answer exactly what DRF's own ``Serializer(obj).data`` would: the same keys, in the same order, with
the same values, for each state the answer can show.
"""
import json
from decimal import Decimal

import pytest
from rest_framework.renderers import JSONRenderer

from bnpl.money import to_minor
from bnpl.serializers import rendered
from debt.api import RepaymentResultSerializer
from debt.selectors import debt_summary
from debt.services import repayment_apply
from plans.tests.factories import make_plan
from refunds.api import RefundSerializer
from refunds.models import Refund
from refunds.services import refund_approve, refund_reject
from refunds.tests.factories import make_refund, pay_installments

pytestmark = [pytest.mark.django_db, pytest.mark.money]


def _json(data) -> list:
    return list(json.loads(JSONRenderer().render(data)).items())


def _assert_refund_answers_as_drf(pk) -> None:
    ours, theirs = Refund.objects.get(pk=pk), Refund.objects.get(pk=pk)  # each loads its own ledger
    assert _json(rendered(RefundSerializer)(ours)) == _json(RefundSerializer(theirs).data)


def test_a_refund_answers_as_drf_in_each_state():
    plan = make_plan(total_amount="300.00")
    pay_installments(plan, {1: "100.00"})
    pending = make_refund(plan=plan, amount="20.00")
    _assert_refund_answers_as_drf(pending.pk)
    rejected = refund_reject(refund=make_refund(plan=plan, amount="10.00"), decided_by="test", reason="no")
    _assert_refund_answers_as_drf(rejected.pk)
    # More than is left outstanding: allocations on the installments and a payout for the rest.
    approved = refund_approve(refund=make_refund(plan=plan, amount="250.00"), decided_by="test")
    assert approved.payout_amount and approved.applied_amount
    _assert_refund_answers_as_drf(approved.pk)
    assert dict(_json(rendered(RefundSerializer)(approved)))["allocations"]  # the ledger's rows are shown


def test_a_repayment_answers_as_drf():
    plan = make_plan(total_amount="300.00", installment_count=3)
    result = repayment_apply(user=plan.user, amount=to_minor(Decimal("150.50")))  # one installment and part of the next
    answer = {**vars(result), "summary": debt_summary(user_id=plan.user_id)}
    shown = _json(rendered(RepaymentResultSerializer)(answer))
    assert shown == _json(RepaymentResultSerializer(answer).data)
    assert len(dict(shown)["allocations"]) == 2 and dict(shown)["amount"] == "150.50"
