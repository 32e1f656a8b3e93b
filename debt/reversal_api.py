"""``POST /repayments/{id}/reverse/`` (API.md §11): operators undo a repayment."""
from drf_yasg.utils import swagger_auto_schema
from rest_framework import serializers, status, viewsets
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from bnpl.api_fields import MoneyField
from bnpl.idempotency import idempotent
from bnpl.models import Role
from bnpl.schema import problem_response
from debt.api import AllocationSerializer, CurrencyMixin
from debt.models import Repayment
from debt.reversals import repayment_reverse

REASON_MAX_LENGTH = 500


class ReversalRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=1, max_length=REASON_MAX_LENGTH,
                                   help_text="Why (a card chargeback, a failed collection found later).")


class ReversalSerializer(CurrencyMixin):
    """A reversal (``ReversalResult``): the 201 answer and the ``repayment.reversed`` event's data."""

    id = serializers.UUIDField(source="reversal.id", read_only=True)
    repayment_id = serializers.UUIDField(source="reversal.repayment_id")
    amount = MoneyField(source="reversal.amount")
    allocations = AllocationSerializer(many=True, help_text="What was taken back from each installment.")
    user_status = serializers.CharField(help_text="The user's status right after the reversal.")
    reason = serializers.CharField(source="reversal.reason", read_only=True)
    created_at = serializers.DateTimeField(source="reversal.created_at", read_only=True)

    class Meta:
        fields = ["id", "repayment_id", "amount", "currency", "allocations", "user_status", "reason", "created_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        return {field: data[field] for field in self.Meta.fields}


class RepaymentReversalViewSet(viewsets.GenericViewSet):
    roles = {"reverse": {Role.OPERATOR}}
    serializer_class = ReversalSerializer

    def get_queryset(self):
        return Repayment.objects.all()

    @swagger_auto_schema(
        request_body=ReversalRequestSerializer,
        operation_description=(
            "Reverse a repayment (operators only): every allocation is taken back from its installment, which "
            "becomes UPCOMING or OVERDUE again by the overdue rule; its plan becomes ACTIVE; the user's status "
            "follows at once. The journal records `repayment_reversed` (one per plan). Refunds approved since "
            "are not re-allocated: the reopened amount is owed again. Unknown repayment: 404."),
        responses={201: ReversalSerializer,
                   409: problem_response("`invalid_state`: the repayment is already reversed, or reversing it "
                                         "would leave an installment with a negative paid amount.")})
    @idempotent
    def reverse(self, request, repayment_id=None):
        repayment = get_object_or_404(self.get_queryset(), pk=repayment_id)
        data = ReversalRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = repayment_reverse(repayment=repayment, reason=data.validated_data["reason"],
                                   created_by=request.auth)
        return Response(ReversalSerializer(result).data, status=status.HTTP_201_CREATED)
