"""HTTP for one installment's own actions (API.md §13): ``POST /installments/{id}/waive-fees/``."""
from drf_yasg.utils import swagger_auto_schema
from rest_framework import serializers, status, viewsets
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from bnpl.api_fields import CurrencyField, MoneyField
from bnpl.idempotency import idempotent
from bnpl.models import Role
from bnpl.schema import problem_response
from plans import services
from plans.api import InstallmentSerializer
from plans.models import Installment

REASON_MAX_LENGTH = 500


class FeeWaiverRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=1, max_length=REASON_MAX_LENGTH,
                                   help_text=f"Why the fees are waived (required, 1-{REASON_MAX_LENGTH} characters).")


class FeeWaiverSerializer(serializers.Serializer):
    """The 201 answer, from ``services.FeeWaiverResult``."""

    id = serializers.UUIDField(source="waiver.id")
    installment_id = serializers.UUIDField(source="waiver.installment_id")
    amount = MoneyField(source="waiver.amount", help_text="The late fees waived: all that was outstanding.")
    currency = CurrencyField()
    reason = serializers.CharField(source="waiver.reason")
    user_status = serializers.CharField(help_text="The user's status right after the waiver.")
    installment = InstallmentSerializer(help_text="The installment right after the waiver.")
    created_at = serializers.DateTimeField(source="waiver.created_at")


class InstallmentViewSet(viewsets.GenericViewSet):
    """``/installments/{id}/...``: actions on one installment (operators waive its late fees)."""

    roles = {"waive_fees": {Role.OPERATOR}}
    serializer_class = FeeWaiverSerializer

    def get_queryset(self):
        return Installment.objects.all()

    @swagger_auto_schema(
        request_body=FeeWaiverRequestSerializer,
        operation_description=(
            "Waive what is left of an installment's late fees (operators only): the journal records "
            "`fee_waived` (Dr fee_waivers, Cr fee_receivable) and `fee_waived_amount` goes up by it. If nothing "
            "else is outstanding the installment becomes PAID (CANCELLED if nothing was ever paid on it) and "
            "leaves OVERDUE; its plan and the user's status follow at once. Unknown installment: 404."),
        responses={201: FeeWaiverSerializer,
                   400: problem_response("`validation_error` on `reason`: missing, empty or too long."),
                   409: problem_response("`invalid_state`: no late fee is outstanding on the installment.")})
    @idempotent
    def waive_fees(self, request, installment_id=None):
        installment = get_object_or_404(self.get_queryset(), pk=installment_id)
        data = FeeWaiverRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.installment_fees_waive(installment=installment, reason=data.validated_data["reason"],
                                                 created_by=request.auth)
        return Response(FeeWaiverSerializer(result).data, status=status.HTTP_201_CREATED)
