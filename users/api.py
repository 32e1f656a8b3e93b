"""HTTP for customers: validate, call one service, shape the (masked) output."""
from datetime import date

import django_filters
from drf_yasg.utils import swagger_auto_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from bnpl.api_fields import MoneyField
from bnpl.idempotency import idempotent
from bnpl.models import Role
from bnpl.serializers import CachedFieldsMixin, CompiledReadViewSet
from bnpl.strict_fields import StrictDateField
from bnpl.views import PreparedObjectMixin
from users import services
from users.models import Customer, UserStatus
from users.selectors import USER_PAGES, user_with_credit, users_with_credit, with_phone
from users.validators import normalize_card, normalize_passport, normalize_phone

READ_ROLES = {Role.CLIENT, Role.OPERATOR}
# API.md §4 (v1.1): nobody alive was born earlier; older dates are typing errors.
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


class StrictCharField(serializers.CharField):
    """A JSON string only: a number is refused, not coerced (a card or phone as a number loses zeros)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class PhoneField(StrictCharField):
    def to_internal_value(self, data):
        return normalize_phone(super().to_internal_value(data))


class PassportField(StrictCharField):
    def to_internal_value(self, data):
        return normalize_passport(super().to_internal_value(data))


class CardField(StrictCharField):
    def to_internal_value(self, data):
        return normalize_card(super().to_internal_value(data))


class UserSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    """A user as every caller sees it: personal data masked."""

    phone_number = serializers.CharField(source="phone_mask", read_only=True, help_text="Masked: +998****4567")
    passport_number = serializers.CharField(source="passport_mask", read_only=True, help_text="Masked: AA*******")
    date_of_birth = serializers.CharField(source="date_of_birth_mask", read_only=True,
                                          help_text="Masked: 1990-**-**")
    card_number = serializers.CharField(source="card_mask", read_only=True, allow_null=True,
                                        help_text="Masked: 4111 **** **** 1111, or null")
    credit_limit = MoneyField(read_only=True, allow_null=True,
                              help_text="Outstanding plus a new plan's total may not exceed it; null: no limit.")
    available_credit = MoneyField(read_only=True, allow_null=True,
                                  help_text="credit_limit minus the outstanding amount, never below 0; null "
                                            "without a limit.")

    class Meta:
        model = Customer
        fields = ["id", "full_name", "phone_number", "passport_number", "date_of_birth", "card_number",
                  "status", "credit_limit", "available_credit", "created_at"]
        read_only_fields = fields


class UserCreateSerializer(serializers.Serializer):
    full_name = StrictCharField(max_length=200)
    phone_number = PhoneField(max_length=16, help_text="E.164, e.g. +998901234567")
    passport_number = PassportField(max_length=20, help_text="5-20 letters or digits")
    date_of_birth = StrictDateField(min_value=EARLIEST_BIRTH_DATE,
                                    help_text="YYYY-MM-DD, 1900-01-01 or later; the user must be 18 or older")
    card_number = CardField(max_length=40, required=False, allow_null=True,
                            help_text="12-19 digits, Luhn-valid; spaces and dashes allowed")


class _OnlyTheseFields(serializers.Serializer):
    # Fields another role may write: naming one is 403 (this role may not), anything else unknown is 400.
    other_roles_fields: frozenset[str] = frozenset()

    def to_internal_value(self, data):
        if isinstance(data, dict):  # checked before the values, so a 403 never hides behind a 400
            forbidden = set(data) & self.other_roles_fields
            if forbidden:
                raise PermissionDenied(f"Your API key's role may not change {', '.join(sorted(forbidden))}.")
            unknown = set(data) - set(self.fields)
            if unknown:
                raise ValidationError({name: ["This field cannot be changed."] for name in sorted(unknown)})
        return super().to_internal_value(data)


class UserUpdateSerializer(_OnlyTheseFields):
    """A client app's PATCH: contact details and card."""

    other_roles_fields = frozenset({"credit_limit"})
    full_name = StrictCharField(max_length=200, required=False)
    phone_number = PhoneField(max_length=16, required=False)
    card_number = CardField(max_length=40, required=False, allow_null=True)


class CreditLimitUpdateSerializer(_OnlyTheseFields):
    """An operator's PATCH: ``credit_limit`` alone."""

    other_roles_fields = frozenset({"full_name", "phone_number", "card_number"})
    credit_limit = MoneyField(allow_null=True, help_text="An amount (> 0), or null for no limit.")


class UserPatchSchemaSerializer(serializers.Serializer):
    """The PATCH body as documented: the client's fields or the operator's, never both."""

    full_name = serializers.CharField(max_length=200, required=False, help_text="Client keys.")
    phone_number = serializers.CharField(max_length=16, required=False, help_text="Client keys; E.164.")
    card_number = serializers.CharField(max_length=40, required=False, allow_null=True,
                                        help_text="Client keys; null removes the card.")
    credit_limit = MoneyField(required=False, allow_null=True,
                              help_text="Operator keys, alone: an amount (> 0) or null for no limit.")


class UserFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=UserStatus.choices, help_text="NORMAL or DEBT_USER")
    phone_number = django_filters.CharFilter(
        method="filter_phone", strip=False,
        help_text="Exact E.164 match; URL-encode the plus (%2B). An unencoded plus, which arrives as a "
                  "leading space, is read as a plus. Not E.164: 400 `validation_error`.")

    class Meta:
        model = Customer
        fields = ["status", "phone_number"]

    def filter_phone(self, queryset, name, value):
        if value.startswith(" ") and value[1:].isdigit():
            value = "+" + value[1:]  # "?phone_number=+998..." unencoded: the plus decodes to a space
        try:
            e164 = normalize_phone(value)
        except ValidationError as exc:
            raise ValidationError({"phone_number": exc.detail}) from None
        return with_phone(queryset=queryset, e164=e164)


class UserViewSet(PreparedObjectMixin, CompiledReadViewSet):
    serializer_class = UserSerializer
    filterset_class = UserFilter
    prepared_pages = USER_PAGES
    http_method_names = ["get", "post", "patch", "head", "options"]
    roles = {"list": READ_ROLES, "retrieve": READ_ROLES, "create": {Role.CLIENT},
             "partial_update": {Role.CLIENT, Role.OPERATOR}}

    def get_queryset(self):
        return users_with_credit()

    def prepared_object(self, pk) -> Customer | None:
        return user_with_credit(pk=pk)

    def _shown(self, user: Customer) -> dict:
        shown = user_with_credit(pk=user.pk)
        assert shown is not None  # just written by this request
        return self.render(shown)

    @swagger_auto_schema(request_body=UserCreateSerializer, responses={201: UserSerializer,
                         409: "`duplicate_user`: a user with that passport number exists."})
    @idempotent
    def create(self, request):
        data = UserCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_create(**data.validated_data)
        return Response(self._shown(user), status=status.HTTP_201_CREATED)

    @swagger_auto_schema(
        request_body=UserPatchSchemaSerializer,
        operation_description=(
            "A client app changes `full_name`, `phone_number`, `card_number` (null removes the card). "
            "An operator sets `credit_limit` alone (API.md §12): `{\"credit_limit\": \"5000.00\"}`, or "
            "`{\"credit_limit\": null}` for no limit; it takes effect at the next plan creation or "
            "confirmation and never touches existing plans. A field the caller's role may not change "
            "(a client's `credit_limit`, an operator's contact fields) is 403 `permission_denied`; a field "
            "nobody may change (`status`, ...) is 400. Either way nothing changes."),
        responses={200: UserSerializer,
                   403: "`permission_denied`: the role may not change a field in the body (see the description)."})
    def partial_update(self, request, pk=None):
        user = self.get_object()
        if request.auth.role == Role.OPERATOR:
            data = CreditLimitUpdateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            user = services.user_credit_limit_set(user=user, credit_limit=data.validated_data["credit_limit"])
        else:
            data = UserUpdateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            user = services.user_update(user=user, **data.validated_data)
        return Response(self._shown(user))
