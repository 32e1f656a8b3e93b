"""HTTP for a user's debt and repayments (API.md §6)."""
from drf_yasg import openapi
from drf_yasg.utils import swagger_auto_schema
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from bnpl.api_fields import CurrencyField, MoneyField
from bnpl.idempotency import idempotent
from bnpl.models import Role
from bnpl.schema import page_serializer, problem_response
from bnpl.serializers import CachedFieldsMixin, rendered
from bnpl.strict_fields import StrictUUIDField
from bnpl.views import PreparedObjectMixin
from debt import services
from debt.as_of import debt_summary_as_of
from debt.models import Repayment, RepaymentAllocation
from debt.selectors import debt_summary, repayments_of
from ledger.params import AS_OF_PARAMETER, as_of_param
from users.models import Customer
from users.selectors import user_by_id, user_queryset

READ_ROLES = {Role.CLIENT, Role.OPERATOR}


class CurrencyMixin(serializers.Serializer):
    currency = CurrencyField()


class OverdueInstallmentSerializer(CachedFieldsMixin, serializers.Serializer):
    id = serializers.UUIDField(source="installment.id")
    plan_id = serializers.UUIDField(source="installment.plan_id")
    sequence = serializers.IntegerField(source="installment.sequence")
    due_date = serializers.DateField(source="installment.due_date")
    days_overdue = serializers.IntegerField(help_text="Days since the due date (today - due_date).")
    outstanding_amount = MoneyField(source="installment.outstanding_amount")


class NextDueSerializer(CachedFieldsMixin, serializers.Serializer):
    installment_id = serializers.UUIDField(source="id")
    due_date = serializers.DateField()
    amount = MoneyField(source="outstanding_amount", help_text="What is still outstanding on it.")


class AgingBucketSerializer(serializers.Serializer):
    bucket = serializers.CharField(help_text="Days past due (today - due_date - BNPL_GRACE_DAYS), e.g. `1-30`, "
                                             "`91+`: the buckets of BNPL_AGING_BUCKETS.")
    amount = MoneyField(help_text="Outstanding on the overdue installments in this bucket.")
    installments = serializers.IntegerField()


class PausedPlanSerializer(serializers.Serializer):
    plan_id = serializers.UUIDField()
    until = serializers.DateField(
        help_text="The business day the pause ends: its installments may become overdue from this "
                              "day on (the refund's creation day + BNPL_RETURN_PAUSE_DAYS), unless the refund "
                              "is decided or withdrawn earlier, which ends the pause at once.")


class DebtSerializer(CachedFieldsMixin, serializers.Serializer):
    user_id = serializers.UUIDField()
    status = serializers.CharField(
        help_text="The debt rule applied now: DEBT_USER exactly when has_overdue. The stored user status "
                  "(GET /users/{id}/) agrees after the next sweep or write for this user.")
    has_overdue = serializers.BooleanField()
    currency = CurrencyField()  # here, not from CurrencyMixin: a base's fields come first in DRF's order
    overdue_amount = MoneyField(help_text="Outstanding on the overdue installments, late fees included.")
    outstanding_amount = MoneyField(help_text="Everything outstanding, late fees included.")
    fees_outstanding = MoneyField(help_text="Late fees assessed and neither paid nor waived (API.md §13).")
    overdue_installments = OverdueInstallmentSerializer(source="overdue", many=True)
    next_due = NextDueSerializer(allow_null=True,
                                 help_text="The earliest-due outstanding installment that is not overdue, or null.")
    aging = AgingBucketSerializer(many=True, help_text="The overdue installments by aging bucket (API.md §13), "
                                                       "every bucket listed in order, zeros included.")
    paused_plans = PausedPlanSerializer(
        many=True, help_text="Plans with outstanding installments whose collection a PENDING refund pauses "
                             "(API.md §13): none of their installments is overdue while the pause lasts.")

    class Meta:
        fields = ["user_id", "status", "has_overdue", "currency", "overdue_amount", "outstanding_amount",
                  "fees_outstanding", "overdue_installments", "next_due", "aging", "paused_plans"]


class AllocationSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    amount = MoneyField()

    class Meta:
        model = RepaymentAllocation
        fields = ["installment_id", "plan_id", "amount"]


class RepaymentSerializer(CurrencyMixin, serializers.ModelSerializer):
    """A repayment as listed: what was paid and where it went."""

    user_id = serializers.UUIDField(read_only=True)
    amount = MoneyField(read_only=True)
    allocations = AllocationSerializer(many=True, read_only=True)

    class Meta:
        model = Repayment
        fields = ["id", "user_id", "amount", "currency", "allocations", "reversed_at", "created_at"]
        extra_kwargs = {"reversed_at": {"help_text": "When the repayment was reversed (API.md §11); null if never."}}


RepaymentPageSerializer = page_serializer("RepaymentPageSerializer", RepaymentSerializer)


class RepaymentCreatedSerializer(CachedFieldsMixin, CurrencyMixin):
    """``repayment.created``'s data: a new repayment as GET /debt/{user_id}/repayments/ lists it, read
    from ``repayment_apply``'s ``RepaymentResult`` (its allocations as just written, no query)."""

    id = serializers.UUIDField(source="repayment.id")
    user_id = serializers.UUIDField(source="repayment.user_id")
    amount = MoneyField(source="repayment.amount")
    allocations = AllocationSerializer(many=True)
    created_at = serializers.DateTimeField(source="repayment.created_at")
    reversed_at = serializers.DateTimeField(source="repayment.reversed_at", allow_null=True,
                                            help_text="Null: a new repayment is never reversed yet.")

    class Meta:
        fields = ["id", "user_id", "amount", "currency", "allocations", "reversed_at", "created_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        return {field: data[field] for field in self.Meta.fields}


class RepaymentResultSerializer(RepaymentCreatedSerializer):
    """The 201 answer: the repayment (``RepaymentResult``'s fields) and the user's standing right
    after it (``DebtSummary``), given as ``{"repayment", "allocations", "user_status", "summary"}``."""

    user_status = serializers.CharField()
    overdue_amount = MoneyField(source="summary.overdue_amount")
    outstanding_amount = MoneyField(source="summary.outstanding_amount")

    class Meta:
        fields = ["id", "user_id", "amount", "currency", "allocations", "user_status", "overdue_amount",
                  "outstanding_amount", "reversed_at", "created_at"]


class RepaymentRequestSerializer(serializers.Serializer):
    """Parses the body only; which combinations are allowed is ``repayment_apply``'s rule."""

    installment_ids = serializers.ListField(
        child=StrictUUIDField(), required=False,
        help_text=f"Pay each in full (1 to {services.MAX_INSTALLMENT_IDS} ids). Empty, too many or repeated ids: "
                  "400; an id that is not this user's installment: 400 (`does_not_exist`); one already "
                  "settled: 409 `invalid_state`. Exactly one of `installment_ids` and `amount`.")
    amount = MoneyField(required=False, help_text="Applied to overdue principal oldest due date first (then the "
                                                  "older plan, then the sequence), then to late fees in the same "
                                                  "order, then to the other installments; partly on the last one "
                                                  "reached. Above the user's outstanding total: 400.")


class DebtViewSet(PreparedObjectMixin, viewsets.GenericViewSet):
    """``/debt/{user_id}/`` (GET, POST) and ``/debt/{user_id}/repayments/`` (GET)."""

    roles = {"retrieve": READ_ROLES, "create": {Role.CLIENT}, "repayments": READ_ROLES}
    lookup_url_kwarg = "user_id"
    serializer_class = RepaymentSerializer

    def get_queryset(self):
        return user_queryset()

    def prepared_object(self, pk) -> Customer | None:
        return user_by_id(pk=pk)

    def get_user(self) -> Customer:
        return self.get_object()

    @swagger_auto_schema(
        operation_description="What the user owes now. Overdue is computed from the date rule live (due date "
                              "before today minus BNPL_GRACE_DAYS, something outstanding), so an installment "
                              "past due that the sweep has not marked yet counts. Unknown user: 404. "
                              "With `?as_of=YYYY-MM-DD` (not after today): every figure as it stood at the end "
                              "of that business day, rebuilt from the journal, with the overdue rule applied "
                              "on that day (`days_overdue` counts to it); before the user's first plan every "
                              "figure is empty. A malformed or future `as_of`: 400.",
        manual_parameters=[AS_OF_PARAMETER],
        responses={200: DebtSerializer,
                   400: problem_response("`validation_error` on `as_of`: not a date YYYY-MM-DD, or after today.")})
    def retrieve(self, request, user_id=None):
        user = self.get_user()
        as_of = as_of_param(request)
        if as_of is not None:  # rebuilt from the journal as it stood at the end of that day
            return Response(rendered(DebtSerializer)(debt_summary_as_of(user_id=user.pk, as_of=as_of)))
        return Response(rendered(DebtSerializer)(debt_summary(user_id=user.pk)))

    @swagger_auto_schema(
        request_body=RepaymentRequestSerializer,
        operation_description="Repay, all or nothing, with exactly one of `installment_ids` or `amount` "
                              "(both or neither: 400). Client keys only. Unknown user: 404.",
        responses={201: RepaymentResultSerializer,
                   409: "`invalid_state`: an installment in `installment_ids` is already settled."})
    @idempotent
    def create(self, request, user_id=None):
        user = self.get_user()
        data = RepaymentRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.repayment_apply(user=user, created_by=request.auth,
                                          installment_ids=data.validated_data.get("installment_ids"),
                                          amount=data.validated_data.get("amount"))
        answer = {**vars(result), "summary": debt_summary(user_id=user.pk)}
        return Response(rendered(RepaymentResultSerializer)(answer), status=status.HTTP_201_CREATED)

    @swagger_auto_schema(
        operation_description="The user's repayments, newest first (cursor-paginated). Unknown user: 404.",
        manual_parameters=[openapi.Parameter("limit", openapi.IN_QUERY, type=openapi.TYPE_INTEGER,
                                             description="Page size, default 50, max 200.")],
        # The paginated envelope, spelled out: drf-yasg wraps only the default response of a list view.
        responses={200: RepaymentPageSerializer})
    def repayments(self, request, user_id=None):
        user = self.get_user()
        page = self.paginate_queryset(repayments_of(user_id=user.pk))
        return self.get_paginated_response(RepaymentSerializer(page, many=True).data)
