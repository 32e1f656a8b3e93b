"""HTTP for plans (API.md §5): validate, call ``plan_create``, shape the output."""
from drf_yasg.utils import swagger_auto_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.response import Response

from bnpl.api_fields import CurrencyField, MoneyField
from bnpl.errors import ValidationFailed, domain_problem_response
from bnpl.filters import status_and_ids_filterset
from bnpl.idempotency import idempotent
from bnpl.models import Role
from bnpl.permissions import merchant_scope
from bnpl.schema import problem_response
from ledger.params import AS_OF_PARAMETER, as_of_param
from merchants.models import Merchant
from plans import services
from plans.as_of import plan_as_of
from plans.models import Installment, Plan, PlanStatus
from plans.selectors import plans_visible_to
from users.selectors import user_queryset

READ_ROLES = {Role.CLIENT, Role.MERCHANT, Role.OPERATOR}
CREATE_ROLES = {Role.CLIENT, Role.MERCHANT}


class InstallmentListSerializer(serializers.ListSerializer):
    """A plan's installments: those just written by ``plan_create`` when the view passes them in
    ``context["installments"]``, else the plan's own (prefetched by the selectors)."""

    def get_attribute(self, instance):
        written = self.context.get("installments")
        return written if written is not None else super().get_attribute(instance)


class InstallmentSerializer(serializers.ModelSerializer):
    amount = MoneyField(read_only=True)
    paid_amount = MoneyField(read_only=True)
    refunded_amount = MoneyField(read_only=True)
    outstanding_amount = MoneyField(read_only=True)

    class Meta:
        model = Installment
        fields = ["id", "sequence", "due_date", "amount", "paid_amount", "refunded_amount", "outstanding_amount",
                  "status", "paid_at"]
        read_only_fields = fields
        list_serializer_class = InstallmentListSerializer


class PlanSerializer(serializers.ModelSerializer):
    user_id = serializers.UUIDField(read_only=True)
    merchant_id = serializers.UUIDField(read_only=True)
    total_amount = MoneyField(read_only=True)
    currency = CurrencyField()
    paid_amount = MoneyField(read_only=True)
    refunded_amount = MoneyField(read_only=True)
    outstanding_amount = MoneyField(read_only=True)
    installments = InstallmentSerializer(many=True, read_only=True)

    class Meta:
        model = Plan
        fields = ["id", "user_id", "merchant_id", "total_amount", "currency", "installment_count", "start_date",
                  "status", "paid_amount", "refunded_amount", "outstanding_amount", "created_at", "installments"]
        read_only_fields = fields


class PlanCreateSerializer(serializers.Serializer):
    user_id = serializers.UUIDField(help_text="An existing user; unknown -> 400 `validation_error` on `user_id`.")
    merchant_id = serializers.UUIDField(
        help_text="An existing merchant; unknown -> 400 `validation_error` on `merchant_id`. A merchant key may "
                  "only name its own merchant: any other id gets the same 400 as an unknown one, so it never "
                  "learns whether another merchant exists.")
    total_amount = MoneyField(help_text="> 0, at most the currency's places (2 for UZS), < 10^12, and at least "
                                        "one minor unit (0.01) per installment.")
    installment_count = serializers.IntegerField(min_value=services.MIN_INSTALLMENTS,
                                                 max_value=services.MAX_INSTALLMENTS)
    start_date = serializers.DateField(required=False, help_text="Default today (BNPL_TIME_ZONE); not in the future.")


PlanFilter = status_and_ids_filterset(Plan, status_choices=PlanStatus.choices, ids=["user_id", "merchant_id"])


def _missing(attr: str):
    return ValidationFailed(attr, "No such object.", "does_not_exist")


class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = PlanSerializer
    filterset_class = PlanFilter
    roles = {"list": READ_ROLES, "retrieve": READ_ROLES, "create": CREATE_ROLES}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Plan.objects.none()
        return plans_visible_to(api_key=self.request.auth)

    @swagger_auto_schema(
        operation_description=(
            "A plan within the caller's reach (else 404). With `?as_of=YYYY-MM-DD` (not after today): every "
            "amount as it stood at the end of that business day, rebuilt from the journal, and the statuses that "
            "follow on that day (the overdue rule applied as of then); a plan that owed nothing yet on that day "
            "(opened later, or pending confirmation) is 404. A malformed or future `as_of`: 400."),
        manual_parameters=[AS_OF_PARAMETER],
        responses={200: PlanSerializer,
                   400: problem_response("`validation_error` on `as_of`: not a date YYYY-MM-DD, or after today.")})
    def retrieve(self, request, *args, **kwargs):
        plan = self.get_object()
        as_of = as_of_param(request)
        if as_of is not None:
            plan = plan_as_of(plan=plan, as_of=as_of)
            if plan is None:
                raise exceptions.NotFound("The plan owed nothing yet at the end of that day.")
        return Response(PlanSerializer(plan).data)

    @swagger_auto_schema(
        request_body=PlanCreateSerializer,
        operation_description=(
            "Open a plan. Client keys, and merchant keys for their own merchant only. A reference to a user or "
            "merchant that does not exist (or, for a merchant key, any merchant other than its own) is a 400 "
            "`validation_error` on that attribute (`does_not_exist`). Total too small for every installment to "
            "be at least 0.01, or a future `start_date`: 400."),
        responses={201: PlanSerializer,
                   409: "`user_in_debt`: the user is DEBT_USER or has an installment past due (marked at once)."})
    @idempotent
    def create(self, request):
        data = PlanCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        own_merchant = merchant_scope(request.auth)
        if own_merchant is not None and values["merchant_id"] != own_merchant:
            raise _missing("merchant_id")
        user = user_queryset().filter(pk=values["user_id"]).first()
        if user is None:
            raise _missing("user_id")
        merchant = Merchant.objects.defer("webhook_secret").filter(pk=values["merchant_id"]).first()
        if merchant is None:
            raise _missing("merchant_id")
        created = services.plan_create(user=user, merchant=merchant, total_amount=values["total_amount"],
                                       installment_count=values["installment_count"],
                                       start_date=values.get("start_date"))
        if created.refusal is not None:
            # Returned, not raised: the DEBT_USER marking made with the refusal commits with it.
            return domain_problem_response(created.refusal)
        return Response(PlanSerializer(created.plan, context={"installments": created.installments}).data,
                        status=status.HTTP_201_CREATED)
