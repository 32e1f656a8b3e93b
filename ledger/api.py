"""HTTP for the journal's reads and payouts (API.md §11)."""
from collections.abc import Callable
from typing import Any, cast

import django_filters
from django.db.models import QuerySet
from drf_yasg import openapi
from drf_yasg.utils import swagger_auto_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from bnpl.api_fields import CurrencyField, MoneyField
from bnpl.idempotency import idempotent
from bnpl.models import ApiKey, Role
from bnpl.pagination import CreatedCursorPagination
from bnpl.schema import page_serializer, problem_response
from ledger import services
from ledger.models import JournalTransaction, Kind, Payout, PayoutStatus
from ledger.selectors import payouts_visible_to, user_transactions
from users.selectors import user_queryset

REASON_MAX_LENGTH = 500


class OldestFirstPagination(CreatedCursorPagination):
    # The same limits and cursor validation as every list (bnpl.pagination), oldest first.
    ordering = ("created_at", "id")


class NewestFirstPagination(OldestFirstPagination):
    ordering = ("-created_at", "-id")


class SourceSerializer(serializers.Serializer):
    type = serializers.CharField(source="source_type",
                                 help_text="`plan`, `repayment`, `refund`, `payout` or `installment`.")
    id = serializers.UUIDField(source="source_id")


class InstallmentPartSerializer(serializers.Serializer):
    installment_id = serializers.UUIDField()
    amount = MoneyField(help_text="What this transaction moved on the installment (positive).")

    def to_representation(self, entry):
        return {"installment_id": str(entry.installment_id), "amount": MoneyField().to_representation(
            abs(entry.amount))}


class JournalTransactionSerializer(serializers.ModelSerializer):
    plan_id = serializers.UUIDField(allow_null=True)
    user_id = serializers.UUIDField()
    amount = MoneyField(help_text="Positive; the kind says which way it moved.")
    currency = CurrencyField()
    source = SourceSerializer(source="*")  # type: ignore[assignment]  # a field named like a Serializer attribute: DRF's metaclass moves declared fields off the class, the stubs cannot know
    installments = InstallmentPartSerializer(source="split", many=True,
                                             help_text="What it moved on each installment (empty for a payout).")
    outstanding_after = MoneyField(allow_null=True, help_text="The plan's outstanding amount right after it.")

    class Meta:
        model = JournalTransaction
        fields = ["id", "kind", "plan_id", "user_id", "amount", "currency", "business_date", "created_at", "source",
                  "installments", "outstanding_after"]
        read_only_fields = fields



TransactionPageSerializer = page_serializer("TransactionPageSerializer", JournalTransactionSerializer)


class UserTransactionFilter(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    plan_id = serializers.UUIDField(required=False)


LIMIT = openapi.Parameter("limit", openapi.IN_QUERY, type=openapi.TYPE_INTEGER,
                          description="Page size, default 50, max 200.")
CURSOR = openapi.Parameter("cursor", openapi.IN_QUERY, type=openapi.TYPE_STRING,
                           description="The `next`/`previous` link's cursor.")


class UserTransactionViewSet(viewsets.GenericViewSet):
    """``GET /users/{id}/transactions/``: client and operator (a merchant never sees a user)."""

    roles = {"list": {Role.CLIENT, Role.OPERATOR}}
    serializer_class = JournalTransactionSerializer
    pagination_class = NewestFirstPagination
    lookup_url_kwarg = "user_id"

    @swagger_auto_schema(
        operation_description=(
            "The user's journal transactions over all their plans and payouts, newest first (cursor-paginated). "
            "Client and operator keys. Unknown user: 404. A malformed `kind` or `plan_id`: 400."),
        manual_parameters=[
            openapi.Parameter("kind", openapi.IN_QUERY, type=openapi.TYPE_STRING, enum=Kind.values),
            openapi.Parameter("plan_id", openapi.IN_QUERY, type=openapi.TYPE_STRING, format="uuid"),
            LIMIT, CURSOR],
        responses={200: TransactionPageSerializer,
                   404: problem_response("`not_found`: no such user (or a tampered cursor).")})
    def list(self, request, user_id=None):
        user = get_object_or_404(user_queryset(), pk=user_id)
        filters = UserTransactionFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(user_transactions(user_id=user.pk, **filters.validated_data))
        return self.get_paginated_response(JournalTransactionSerializer(page, many=True).data)


# --- Payouts ----------------------------------------------------------------------------


class PayoutSerializer(serializers.ModelSerializer):
    refund_id = serializers.UUIDField()
    plan_id = serializers.UUIDField()
    user_id = serializers.UUIDField()
    amount = MoneyField()
    currency = CurrencyField()
    reference = serializers.CharField(allow_blank=True, help_text="Set by mark-sent; empty before.")
    failure_reason = serializers.CharField(allow_blank=True, help_text="The last failure's reason; empty if none.")

    class Meta:
        model = Payout
        fields = ["id", "refund_id", "plan_id", "user_id", "amount", "currency", "status", "reference",
                  "failure_reason", "created_at", "updated_at"]
        read_only_fields = fields



class MarkSentSerializer(serializers.Serializer):
    reference = serializers.CharField(min_length=1, max_length=128,
                                      help_text="The bank's or processor's reference for the transfer.")


class MarkFailedSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=1, max_length=REASON_MAX_LENGTH)


class PayoutFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PayoutStatus.choices)
    user_id = django_filters.UUIDFilter(field_name="user_id")
    refund_id = django_filters.UUIDFilter(field_name="refund_id")

    class Meta:
        model = Payout
        fields = ["status", "user_id", "refund_id"]


READERS = {Role.CLIENT, Role.MERCHANT, Role.OPERATOR}
_INVALID_STATE = problem_response(
    "`invalid_state`: not allowed from the payout's status (PENDING -> SENT -> SETTLED | FAILED, "
    "FAILED -> PENDING); of two racing actions exactly one wins.")


def _payout_transition(name: str, service: Callable[..., Payout], *, url_path: str, description: str,
                       body: type[serializers.Serializer] | None = None) -> Callable[..., Response]:
    """``POST /payouts/{id}/<url_path>/``: parse ``body`` (if the transition takes one), call
    ``service`` on the payout with its fields, answer the payout. Idempotent, like every POST."""

    def transition(self: "PayoutViewSet", request: Request, pk: str | None = None) -> Response:
        fields: dict[str, Any] = {}
        if body is not None:
            data = body(data=request.data)
            data.is_valid(raise_exception=True)
            fields = dict(data.validated_data)
        payout = service(payout_id=self.get_object().pk, **fields)
        return Response(PayoutSerializer(payout).data)

    transition.__name__ = transition.__qualname__ = name  # DRF routes an extra action by its attribute name
    return swagger_auto_schema(
        request_body=body or serializers.Serializer, responses={200: PayoutSerializer, 409: _INVALID_STATE},
        operation_description=description,
    )(action(detail=True, methods=["post"], url_path=url_path)(idempotent(transition)))


class PayoutViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = PayoutSerializer
    filterset_class = PayoutFilter
    roles = {"list": READERS, "retrieve": READERS, "mark_sent": {Role.OPERATOR},
             "mark_settled": {Role.OPERATOR}, "mark_failed": {Role.OPERATOR}, "retry": {Role.OPERATOR}}

    def get_queryset(self) -> QuerySet[Payout]:
        if getattr(self, "swagger_fake_view", False):
            return Payout.objects.none()
        # HasRole let only API keys through (DRF types ``request.auth`` as its own Token).
        return payouts_visible_to(api_key=cast(ApiKey, self.request.auth))

    mark_sent = _payout_transition(
        "mark_sent", services.payout_mark_sent, url_path="mark-sent", body=MarkSentSerializer,
        description="PENDING -> SENT, with the transfer's `reference`. Operators only.")
    mark_settled = _payout_transition(
        "mark_settled", services.payout_mark_settled, url_path="mark-settled",
        description="SENT -> SETTLED; the journal records `payout_settled`. Operators only. The body is ignored.")
    mark_failed = _payout_transition(
        "mark_failed", services.payout_mark_failed, url_path="mark-failed", body=MarkFailedSerializer,
        description="SENT -> FAILED with a `reason`; the customer is still owed the amount. Operators only.")
    retry = _payout_transition(
        "retry", services.payout_retry, url_path="retry",
        description="FAILED -> PENDING, to be sent again (the reference is cleared, the last `failure_reason` kept "
                    "until the next mark-sent). Operators only. The body is ignored.")
