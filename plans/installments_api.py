"""HTTP for one installment (API.md §13): the due-date extension."""
from drf_yasg.utils import swagger_auto_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from bnpl.idempotency import idempotent
from bnpl.models import Role
from bnpl.schema import problem_response
from bnpl.strict_fields import StrictIntegerField
from plans import services
from plans.api import InstallmentSerializer
from plans.models import MAX_EXTENSION_DAYS, MIN_EXTENSION_DAYS, Installment


class ExtensionRequestSerializer(serializers.Serializer):
    days = StrictIntegerField(min_value=MIN_EXTENSION_DAYS, max_value=MAX_EXTENSION_DAYS,
                              help_text=f"How many days later the installment falls due: {MIN_EXTENSION_DAYS}"
                                        f"-{MAX_EXTENSION_DAYS}, a whole number.")


class InstallmentViewSet(viewsets.GenericViewSet):
    """No list or detail of their own: installments are shown within their plan (``/plans/{id}/``)."""

    serializer_class = InstallmentSerializer
    roles = {"extend": {Role.CLIENT}}

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
