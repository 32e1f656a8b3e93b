"""HTTP for one installment's own actions (API.md §13): ``POST /installments/{id}/extend/`` (client)
and ``POST /installments/{id}/waive-fees/`` (operator). Installments have no list or detail of their
own: they are shown within their plan (``/plans/{id}/``)."""
from drf_yasg.utils import swagger_auto_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from bnpl.api_fields import CurrencyField, MoneyField
from bnpl.idempotency import idempotent
from bnpl.models import Role
from bnpl.schema import problem_response
from bnpl.strict_fields import StrictIntegerField
from plans import services
from plans.api import InstallmentSerializer
from plans.models import MAX_EXTENSION_DAYS, MIN_EXTENSION_DAYS, Installment

REASON_MAX_LENGTH = 500


class ExtensionRequestSerializer(serializers.Serializer):
    days = StrictIntegerField(min_value=MIN_EXTENSION_DAYS, max_value=MAX_EXTENSION_DAYS,
                              help_text=f"How many days later the installment falls due: {MIN_EXTENSION_DAYS}"
                                        f"-{MAX_EXTENSION_DAYS}, a whole number.")


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
    """``/installments/{id}/...``: clients extend a due date, operators waive late fees."""

    serializer_class = InstallmentSerializer
    roles = {"extend": {Role.CLIENT}, "waive_fees": {Role.OPERATOR}}

    def get_queryset(self):
        # Client keys reach every user's installments, as they reach every user's plans.
        return Installment.objects.all()

    @swagger_auto_schema(
        request_body=ExtensionRequestSerializer,
        operation_description=(
            "Move one open installment's due date `days` (1-14) later: once per plan (client keys). The "
            "installment must not be overdue or past its due date (+ BNPL_GRACE_DAYS), even while a pending "
            "return pauses its plan's collection. Its `extended_days` records the move, the audit trail the old "
            "and new due dates. Answers the installment as plans show it."),
        responses={200: InstallmentSerializer,
                   400: problem_response("`validation_error` on `days`: missing, not a whole number, or outside "
                                         "1-14."),
                   404: problem_response("`not_found`: no such installment."),
                   409: problem_response("`invalid_state`: the installment is settled (PAID/CANCELLED), overdue "
                                         "or past its due date, or an installment of its plan was already "
                                         "extended.")})
    @action(detail=True, methods=["post"])
    @idempotent
    def extend(self, request, pk=None):
        installment = self.get_object()
        data = ExtensionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        installment = services.installment_extend(installment=installment, days=data.validated_data["days"])
        return Response(InstallmentSerializer(installment).data)

    @swagger_auto_schema(
        request_body=FeeWaiverRequestSerializer,
        operation_description=(
            "Waive what is left of an installment's late fees (operators only): the journal records "
            "`fee_waived` (Dr fee_waivers, Cr fee_receivable) and `fee_waived_amount` goes up by it. If nothing "
            "else is outstanding the installment becomes PAID (CANCELLED if nothing was ever paid on it) and "
            "leaves OVERDUE; its plan and the user's status follow at once. Unknown installment: 404."),
        responses={201: FeeWaiverSerializer,
                   400: problem_response("`validation_error` on `reason`: missing, empty or too long."),
                   404: problem_response("`not_found`: no such installment."),
                   409: problem_response("`invalid_state`: no late fee is outstanding on the installment.")})
    @action(detail=True, methods=["post"], url_path="waive-fees", serializer_class=FeeWaiverSerializer)
    @idempotent
    def waive_fees(self, request, pk=None):
        installment = self.get_object()
        data = FeeWaiverRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.installment_fees_waive(installment=installment, reason=data.validated_data["reason"],
                                                 created_by=request.auth)
        return Response(FeeWaiverSerializer(result).data, status=status.HTTP_201_CREATED)
