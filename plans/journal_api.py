"""``GET /plans/{id}/transactions/`` (API.md §11): the plan's journal, oldest first."""
from drf_yasg.utils import swagger_auto_schema
from rest_framework import viewsets
from rest_framework.generics import get_object_or_404

from bnpl.models import Role
from bnpl.schema import problem_response
from ledger.api import CURSOR, LIMIT, JournalTransactionSerializer, OldestFirstPagination, TransactionPageSerializer
from ledger.selectors import plan_transactions
from plans.models import Plan


class PlanTransactionViewSet(viewsets.GenericViewSet):
    roles = {"list": {Role.CLIENT, Role.MERCHANT, Role.OPERATOR}}
    serializer_class = JournalTransactionSerializer
    pagination_class = OldestFirstPagination

    @swagger_auto_schema(
        operation_description=(
            "The plan's journal transactions, oldest first (cursor-paginated): `plan_opened`, `repayment`, "
            "`repayment_reversed`, `refund_applied`, `refund_payout`, `payout_settled` (and `fee_assessed`, "
            "`fee_waived`). `amount` is positive; `installments` is what each one moved on each installment; "
            "`outstanding_after` the plan's outstanding amount right after it. Client keys, the plan's merchant "
            "and operators; a plan outside the caller's reach is 404. A plan not yet confirmed has none."),
        manual_parameters=[LIMIT, CURSOR],
        responses={200: TransactionPageSerializer,
                   404: problem_response("`not_found`: no such plan within reach (or a tampered cursor).")})
    def list(self, request, plan_id=None):
        reach = Plan.objects.only("pk")
        if request.auth.merchant_id is not None:  # a merchant key: its own plans only
            reach = reach.filter(merchant_id=request.auth.merchant_id)
        plan = get_object_or_404(reach, pk=plan_id)
        page = self.paginate_queryset(plan_transactions(plan_id=plan.pk))
        return self.get_paginated_response(JournalTransactionSerializer(page, many=True).data)
