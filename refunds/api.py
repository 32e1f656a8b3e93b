"""HTTP for refunds: validate, call one service, shape the output."""
from drf_yasg.utils import no_body, swagger_auto_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from bnpl.api_fields import CurrencyField, MoneyField
from bnpl.errors import ValidationFailed
from bnpl.filters import status_and_ids_filterset
from bnpl.idempotency import idempotent
from bnpl.models import Role
from bnpl.schema import problem_response
from bnpl.serializers import CachedFieldsMixin, rendered
from bnpl.strict_fields import StrictUUIDField
from refunds import services
from refunds.ledger_fields import RefundLedgerFields, RefundLedgerListSerializer
from refunds.models import REASON_MAX_LENGTH, Refund, RefundStatus
from refunds.selectors import plan_for_refund, refunds_visible_to

ALL_ROLES = {Role.CLIENT, Role.MERCHANT, Role.OPERATOR}
DECIDERS = {Role.MERCHANT, Role.OPERATOR}


class RefundSerializer(CachedFieldsMixin, RefundLedgerFields, serializers.ModelSerializer):
    plan_id = serializers.UUIDField(read_only=True)
    user_id = serializers.UUIDField(read_only=True)
    merchant_id = serializers.UUIDField(read_only=True)
    amount = MoneyField(read_only=True)
    currency = CurrencyField()
    # Declared for the schema: a read-only field generated from TextField(blank=True) is documented
    # with minLength 1, and a refund without a reason has "".
    reason = serializers.CharField(read_only=True, allow_blank=True)
    applied_amount = MoneyField(read_only=True, allow_null=True,
                                help_text="What reduced the plan's outstanding balance; null until APPROVED.")
    payout_amount = MoneyField(read_only=True, allow_null=True,
                               help_text="The rest, owed back to the customer (already paid); null until APPROVED.")

    class Meta:
        model = Refund
        fields = ["id", "plan_id", "user_id", "merchant_id", "transaction_id", "amount", "currency", "reason",
                  "status", "applied_amount", "payout_amount", "allocations", "payout_id", "created_at",
                  "decided_at"]
        read_only_fields = fields
        list_serializer_class = RefundLedgerListSerializer


class RefundCreateSerializer(serializers.Serializer):
    plan_id = StrictUUIDField(help_text="A plan within the caller's reach (a merchant key: its own plans).")
    transaction_id = serializers.CharField(min_length=1, max_length=64, trim_whitespace=False,
                                           help_text="The merchant's reference, unique per merchant (1-64 chars).")
    amount = MoneyField(help_text="> 0, at most the currency's places (2 for UZS); a string or a JSON number.")
    reason = serializers.CharField(max_length=REASON_MAX_LENGTH, required=False, allow_blank=True, default="")


class RefundDecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=REASON_MAX_LENGTH, required=False, allow_blank=True, default="")


RefundFilter = status_and_ids_filterset(Refund, status_choices=RefundStatus.choices, ids=["plan_id", "user_id"])


def _decided_by(request) -> str:
    return f"api_key:{request.auth.pk}"


_INVALID_STATE = problem_response("`invalid_state`: the refund is not PENDING (already decided or withdrawn).")


class RefundViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = RefundSerializer
    filterset_class = RefundFilter
    roles = {"list": ALL_ROLES, "retrieve": ALL_ROLES, "create": {Role.CLIENT, Role.MERCHANT},
             "approve": DECIDERS, "reject": DECIDERS, "cancel": {Role.CLIENT, Role.OPERATOR}}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Refund.objects.none()
        return refunds_visible_to(api_key=self.request.auth)

    @swagger_auto_schema(
        request_body=RefundCreateSerializer,
        operation_description=(
            "Open a PENDING refund on a plan. `transaction_id` is unique per merchant (the plan's): "
            "the same `transaction_id` with the same plan and amount returns the existing refund "
            "(whatever its status) with **200** and creates nothing. A `plan_id` that does not exist "
            "or is outside the caller's reach (a merchant key and another merchant's plan) is the same "
            "400 `validation_error` on `plan_id`: its existence is never revealed."),
        responses={201: RefundSerializer, 200: RefundSerializer,
                   400: problem_response("`validation_error` (see `errors`; an unknown or out-of-reach plan is "
                                         "`plan_id`/`does_not_exist`) or `parse_error`."),
                   409: problem_response("`duplicate_transaction` (same transaction_id, other plan or amount) or "
                                         "`refund_exceeds_refundable` (above the plan total minus pending and "
                                         "approved refunds).")})
    @idempotent
    def create(self, request):
        data = RefundCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = plan_for_refund(api_key=request.auth, plan_id=data.validated_data["plan_id"])
        if plan is None:
            raise ValidationFailed("plan_id", "No such plan.", "does_not_exist")
        refund, created = services.refund_create(
            plan=plan, transaction_id=data.validated_data["transaction_id"],
            amount=data.validated_data["amount"], reason=data.validated_data["reason"])
        return Response(rendered(RefundSerializer)(refund),
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @swagger_auto_schema(
        request_body=no_body,
        operation_description=(
            "Approve a PENDING refund (the plan's merchant or an operator) and apply it to the plan, "
            "last installment first: `applied_amount` reduced the outstanding balance, `payout_amount` "
            "is owed back to the customer. Of racing decisions exactly one wins."),
        responses={200: RefundSerializer, 409: _INVALID_STATE})
    @action(detail=True, methods=["post"])
    @idempotent
    def approve(self, request, pk=None):
        refund = services.refund_approve(refund=self.get_object(), decided_by=_decided_by(request))
        return Response(rendered(RefundSerializer)(refund))

    @swagger_auto_schema(request_body=RefundDecisionSerializer,
                         operation_description="Reject a PENDING refund (the plan's merchant or an operator).",
                         responses={200: RefundSerializer, 409: _INVALID_STATE})
    @action(detail=True, methods=["post"])
    @idempotent
    def reject(self, request, pk=None):
        return self._decide(request, services.refund_reject)

    @swagger_auto_schema(request_body=RefundDecisionSerializer,
                         operation_description="Withdraw a PENDING refund (client app or operator).",
                         responses={200: RefundSerializer, 409: _INVALID_STATE})
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request, pk=None):
        return self._decide(request, services.refund_cancel)

    def _decide(self, request, decide) -> Response:
        """Reject or cancel: a decision with an optional reason and no effect on the plan."""
        refund = self.get_object()
        data = RefundDecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refund = decide(refund=refund, decided_by=_decided_by(request), **data.validated_data)
        return Response(rendered(RefundSerializer)(refund))
