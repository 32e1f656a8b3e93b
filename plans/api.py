"""HTTP for plans (API.md §5): validate, call ``plan_create``, shape the output."""
from collections.abc import Callable, Iterable
from typing import Any, cast

import django_filters
from drf_yasg.utils import no_body, swagger_auto_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from bnpl.api_fields import CurrencyField, MoneyField
from bnpl.dates import one_business_day
from bnpl.errors import ValidationFailed, domain_problem_response
from bnpl.idempotency import idempotent
from bnpl.models import ApiKey, Role
from bnpl.permissions import merchant_scope
from bnpl.schema import problem_response
from bnpl.serializers import CachedFieldsMixin, CompiledReadViewSet, compiled
from bnpl.strict_fields import StrictDateField, StrictIntegerField, StrictUUIDField, StrictUUIDFilter
from bnpl.views import PreparedObjectMixin
from ledger.params import AS_OF_PARAMETER, as_of_param
from merchants.selectors import merchant_by_id
from plans import services
from plans.as_of import plan_as_of
from plans.models import Installment, LateFee, Plan, PlanStatus, current_status_sql
from plans.overdue import days_past_due, max_days_past_due
from plans.selectors import PLAN_PAGES, plan_visible_to, plans_visible_to
from users.selectors import user_by_id

READ_ROLES = {Role.CLIENT, Role.MERCHANT, Role.OPERATOR}
CREATE_ROLES = {Role.CLIENT, Role.MERCHANT}


class InstallmentListSerializer(serializers.ListSerializer):
    """A plan's installments: those the view passes in ``context["installments"]`` (just written by
    ``plan_create``, or rebuilt as of a day by ``plan_as_of``), else the plan's own (prefetched by the selectors)."""

    def get_attribute(self, instance):
        written = self.context.get("installments")
        return written if written is not None else super().get_attribute(instance)


class InstallmentSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    """An installment as the API shows it everywhere (plans, the extension, the waiver, events). The
    delinquency figures (API.md §13) are computed from the one clock on the business day
    ``context["today"]`` (``?as_of=``) or today."""

    amount = MoneyField(read_only=True)
    paid_amount = MoneyField(read_only=True, help_text="Everything the customer paid on it, late fees included.")
    refunded_amount = MoneyField(read_only=True)
    outstanding_amount = MoneyField(read_only=True, help_text="amount + fee_amount - fee_waived_amount - paid_amount "
                                                              "- refunded_amount (API.md §13).")
    fee_amount = MoneyField(read_only=True, help_text="Late fees assessed on it (BNPL_LATE_FEES).")
    fee_paid_amount = MoneyField(read_only=True, help_text="The part of paid_amount that paid late fees.")
    fee_waived_amount = MoneyField(read_only=True, help_text="Late fees an operator waived.")
    overdue_since = serializers.DateField(
        read_only=True, allow_null=True,
        help_text="The first business day it was overdue (marked by the sweep or a debt check); kept after it "
                  "is paid or goes back to UPCOMING; null if it never was.")
    days_past_due = serializers.SerializerMethodField(
        help_text="While it is overdue: today - due_date - BNPL_GRACE_DAYS; else 0 (paid, not yet due, or its "
                  "plan's collection paused by a pending return).")
    max_days_past_due = serializers.SerializerMethodField(
        help_text="The most days_past_due it ever reached, kept after it is paid.")
    extended_days = serializers.IntegerField(
        read_only=True, help_text="Days its due date was moved by the plan's one extension (0: never extended).")

    class Meta:
        model = Installment
        fields = ["id", "sequence", "due_date", "amount", "paid_amount", "refunded_amount", "outstanding_amount",
                  "fee_amount", "fee_paid_amount", "fee_waived_amount", "status", "paid_at", "overdue_since",
                  "days_past_due", "max_days_past_due", "extended_days"]
        read_only_fields = fields
        list_serializer_class = InstallmentListSerializer

    def get_days_past_due(self, installment: Installment) -> int:
        return days_past_due(installment, today=self.context.get("today"))

    def get_max_days_past_due(self, installment: Installment) -> int:
        return max_days_past_due(installment, today=self.context.get("today"))


class LateFeeSerializer(serializers.ModelSerializer):
    """A late fee as the ``fee.assessed`` event carries it (API.md §14): the fee and its installment."""

    installment_id = serializers.UUIDField(read_only=True)
    plan_id = serializers.UUIDField(read_only=True)
    user_id = serializers.UUIDField(read_only=True)
    days_past_due = serializers.IntegerField(source="step_days", read_only=True,
                                             help_text="The BNPL_LATE_FEES step reached.")
    amount = MoneyField(read_only=True)
    currency = CurrencyField()
    installment = InstallmentSerializer(read_only=True)

    class Meta:
        model = LateFee
        fields = ["id", "installment_id", "plan_id", "user_id", "days_past_due", "amount", "currency",
                  "business_date", "created_at", "installment"]
        read_only_fields = fields


class PlanSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    user_id = serializers.UUIDField(read_only=True)
    merchant_id = serializers.UUIDField(read_only=True)
    total_amount = MoneyField(read_only=True)
    currency = CurrencyField()
    paid_amount = MoneyField(read_only=True)
    refunded_amount = MoneyField(read_only=True)
    outstanding_amount = MoneyField(read_only=True, help_text="0 while the plan is a checkout (nothing is owed).")
    installments = InstallmentSerializer(many=True, read_only=True,
                                         help_text="Empty until a checkout is confirmed.")
    status = serializers.ChoiceField(
        source="current_status", choices=PlanStatus.choices, read_only=True,
        help_text="PENDING_CONFIRMATION (a merchant's checkout) -> ACTIVE (confirmed) | DECLINED | EXPIRED "
                  "(past expires_at, shown at once); ACTIVE -> COMPLETED when nothing is outstanding.")
    start_date = serializers.DateField(read_only=True, allow_null=True,
                                       help_text="null until a checkout is confirmed (then the confirmation day).")
    expires_at = serializers.DateTimeField(
        read_only=True, allow_null=True,
        help_text="A merchant's checkout must be confirmed before this (creation + BNPL_CHECKOUT_TTL_MINUTES); "
                  "null for a client's plan.")

    class Meta:
        model = Plan
        fields = ["id", "user_id", "merchant_id", "total_amount", "currency", "installment_count", "start_date",
                  "status", "expires_at", "paid_amount", "refunded_amount", "outstanding_amount", "created_at",
                  "installments"]
        read_only_fields = fields


def plan_representer() -> Callable[[Plan | services.PlanCreation], dict]:
    """The ``plan.*`` events' representer: a plan as ``PlanSerializer`` shows it, compiled once
    (``bnpl.serializers.compiled``). Given a ``PlanCreation`` (a plan just opened or confirmed) it lists
    the installments that were just written instead of reading them back."""
    render: tuple[Callable[[Any], dict], Callable[[Any], dict]] | None = None

    def represent(obj: Plan | services.PlanCreation) -> dict:
        nonlocal render
        if render is None:
            render = (compiled(PlanSerializer(), exclude=frozenset({"installments"})),
                      compiled(InstallmentSerializer()))
        plan_fields, installment = render
        installments: Iterable[Installment]
        if isinstance(obj, services.PlanCreation):
            assert obj.plan is not None, "a refusal is no plan"
            plan, installments = obj.plan, obj.installments
        else:
            plan, installments = obj, obj.installments.all()
        return {**plan_fields(plan), "installments": [installment(i) for i in installments]}

    return represent


class PlanCreateSerializer(serializers.Serializer):
    user_id = StrictUUIDField(help_text="An existing user; unknown -> 400 `validation_error` on `user_id`.")
    merchant_id = StrictUUIDField(
        help_text="An existing merchant; unknown -> 400 `validation_error` on `merchant_id`. A merchant key may "
                  "only name its own merchant: any other id gets the same 400 as an unknown one, so it never "
                  "learns whether another merchant exists.")
    total_amount = MoneyField(help_text="> 0, at most the currency's places (2 for UZS), < 10^12, and at least "
                                        "one minor unit (0.01) per installment.")
    installment_count = StrictIntegerField(min_value=services.MIN_INSTALLMENTS,
                                           max_value=services.MAX_INSTALLMENTS)
    start_date = StrictDateField(
        required=False,
        help_text="Client keys only: default today (BNPL_TIME_ZONE); not in the future and not more than "
                  "BNPL_MAX_BACKDATE_DAYS (default 3) before today. A merchant's plan starts when the customer "
                  "confirms it: sending start_date with a merchant key is 400 (`not_allowed`).")


class PlanFilter(django_filters.FilterSet):
    user_id = StrictUUIDFilter(field_name="user_id")
    merchant_id = StrictUUIDFilter(field_name="merchant_id")
    status = django_filters.ChoiceFilter(choices=PlanStatus.choices, method="filter_status",
                                         help_text="The status as shown (a lapsed checkout is EXPIRED at once).")

    class Meta:
        model = Plan
        fields = ["user_id", "merchant_id", "status"]

    def filter_status(self, queryset, name, value):
        return queryset.alias(shown_status=current_status_sql()).filter(shown_status=value)


def _missing(attr: str):
    return ValidationFailed(attr, "No such object.", "does_not_exist")


class PlanViewSet(PreparedObjectMixin, CompiledReadViewSet):
    serializer_class = PlanSerializer
    filterset_class = PlanFilter
    prepared_pages = PLAN_PAGES
    roles = {"list": READ_ROLES, "retrieve": READ_ROLES, "create": CREATE_ROLES,
             "confirm": {Role.CLIENT}, "decline": {Role.CLIENT}}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Plan.objects.none()
        return plans_visible_to(api_key=self.request.auth)

    def prepared_object(self, pk) -> Plan | None:
        return plan_visible_to(api_key=cast(ApiKey, self.request.auth), pk=pk)

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
            then = plan_as_of(plan=plan, as_of=as_of)
            if then is None:
                raise exceptions.NotFound("The plan owed nothing yet at the end of that day.")
            return Response(PlanSerializer(then.plan, context={"installments": then.installments,
                                                               "today": as_of}).data)
        with one_business_day():
            return Response(self.render(plan))

    @swagger_auto_schema(
        request_body=PlanCreateSerializer,
        operation_description=(
            "Open a plan. Client keys, and merchant keys for their own merchant only. A reference to a user or "
            "merchant that does not exist (or, for a merchant key, any merchant other than its own) is a 400 "
            "`validation_error` on that attribute (`does_not_exist`). Total too small for every installment to "
            "be at least 0.01, or a `start_date` in the future or too far back: 400.\n\n"
            "A client key's plan is ACTIVE at once (the provider's app carries the customer's consent): its "
            "installments are owed from `start_date`. A merchant key's plan is a checkout (API.md §12): "
            "PENDING_CONFIRMATION with `expires_at`, no installments, nothing owed, until the customer's app "
            "confirms it (`POST /plans/{id}/confirm/`) or declines it, or it expires.\n\n"
            "Checked under the user's lock, so racing creations cannot get past them: overdue debt, at most "
            "BNPL_MAX_OPEN_PLANS plans ACTIVE or PENDING_CONFIRMATION (both keys), and, for a client's plan, "
            "the outstanding amount plus this total within the user's `credit_limit` (a checkout's credit is "
            "checked when it is confirmed)."),
        responses={201: PlanSerializer,
                   409: "`user_in_debt`: the user is DEBT_USER or has an installment past due (marked at once); "
                        "`too_many_open_plans`; `credit_limit_exceeded` (`detail` names the available amount)."})
    @idempotent
    def create(self, request):
        data = PlanCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        own_merchant = merchant_scope(request.auth)
        if own_merchant is not None and values["merchant_id"] != own_merchant:
            raise _missing("merchant_id")
        user = user_by_id(pk=values["user_id"])
        if user is None:
            raise _missing("user_id")
        merchant = merchant_by_id(pk=values["merchant_id"])
        if merchant is None:
            raise _missing("merchant_id")
        created = services.plan_create(user=user, merchant=merchant, total_amount=values["total_amount"],
                                       installment_count=values["installment_count"],
                                       start_date=values.get("start_date"),
                                       awaiting_consent=request.auth.role == Role.MERCHANT)
        return _created_or_refused(created, status.HTTP_201_CREATED)

    @swagger_auto_schema(
        request_body=no_body,
        operation_description=(
            "The customer confirms a merchant's checkout (client keys). The plan becomes ACTIVE: its "
            "installments are created with due dates counted from today's business date (`start_date`), and "
            "every check of plan creation is made now, under the user's lock: overdue debt, "
            "BNPL_MAX_OPEN_PLANS, and the outstanding amount plus the plan's total within `credit_limit`. A "
            "refused confirmation changes nothing: the plan stays PENDING_CONFIRMATION until it expires."),
        responses={200: PlanSerializer,
                   409: problem_response(
                       "`invalid_state`: the plan is not PENDING_CONFIRMATION (already confirmed, declined or "
                       "expired); `user_in_debt`; `too_many_open_plans`; `credit_limit_exceeded` (`detail` names "
                       "the available amount).")})
    @action(detail=True, methods=["post"])
    @idempotent
    def confirm(self, request, pk=None):
        return _created_or_refused(services.plan_confirm(plan=self.get_object()), status.HTTP_200_OK)

    @swagger_auto_schema(
        request_body=no_body,
        operation_description="The customer declines a merchant's checkout (client keys): DECLINED, for good.",
        responses={200: PlanSerializer,
                   409: problem_response("`invalid_state`: the plan is not PENDING_CONFIRMATION.")})
    @action(detail=True, methods=["post"])
    @idempotent
    def decline(self, request, pk=None):
        declined = services.plan_decline(plan=self.get_object())
        return Response(PlanSerializer(declined, context={"installments": []}).data)


def _created_or_refused(created: services.PlanCreation, status_code: int) -> Response:
    if created.refusal is not None:
        # Returned, not raised: the DEBT_USER marking made with the refusal commits with it.
        return domain_problem_response(created.refusal)
    # The plan as its plan.created / plan.confirmed event carries it: PlanSerializer's representation.
    return Response(created.representation, status=status_code)
