"""HTTP for customers: validate, call one service, shape the (masked) output."""
from datetime import date

import django_filters
from drf_yasg.utils import swagger_auto_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from bnpl.idempotency import idempotent
from bnpl.models import Role
from bnpl.strict_fields import StrictDateField
from users import services
from users.models import Customer, UserStatus
from users.selectors import user_queryset, with_phone
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


class UserSerializer(serializers.ModelSerializer):
    """A user as every caller sees it: personal data masked."""

    phone_number = serializers.CharField(source="phone_mask", read_only=True, help_text="Masked: +998****4567")
    passport_number = serializers.CharField(source="passport_mask", read_only=True, help_text="Masked: AA*******")
    date_of_birth = serializers.CharField(source="date_of_birth_mask", read_only=True,
                                          help_text="Masked: 1990-**-**")
    card_number = serializers.CharField(source="card_mask", read_only=True, allow_null=True,
                                        help_text="Masked: 4111 **** **** 1111, or null")

    class Meta:
        model = Customer
        fields = ["id", "full_name", "phone_number", "passport_number", "date_of_birth", "card_number",
                  "status", "created_at"]
        read_only_fields = fields


class UserCreateSerializer(serializers.Serializer):
    full_name = StrictCharField(max_length=200)
    phone_number = PhoneField(max_length=16, help_text="E.164, e.g. +998901234567")
    passport_number = PassportField(max_length=20, help_text="5-20 letters or digits")
    date_of_birth = StrictDateField(min_value=EARLIEST_BIRTH_DATE,
                                    help_text="YYYY-MM-DD, 1900-01-01 or later; the user must be 18 or older")
    card_number = CardField(max_length=40, required=False, allow_null=True,
                            help_text="12-19 digits, Luhn-valid; spaces and dashes allowed")


class UserUpdateSerializer(serializers.Serializer):
    full_name = StrictCharField(max_length=200, required=False)
    phone_number = PhoneField(max_length=16, required=False)
    card_number = CardField(max_length=40, required=False, allow_null=True)

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise ValidationError({name: ["This field cannot be changed."] for name in sorted(unknown)})
        return attrs


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
        return with_phone(queryset, e164)


class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = UserSerializer
    filterset_class = UserFilter
    http_method_names = ["get", "post", "patch", "head", "options"]
    roles = {"list": READ_ROLES, "retrieve": READ_ROLES, "create": {Role.CLIENT}, "partial_update": {Role.CLIENT}}

    def get_queryset(self):
        return user_queryset()

    @swagger_auto_schema(request_body=UserCreateSerializer, responses={201: UserSerializer,
                         409: "`duplicate_user`: a user with that passport number exists."})
    @idempotent
    def create(self, request):
        data = UserCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_create(**data.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @swagger_auto_schema(request_body=UserUpdateSerializer, responses={200: UserSerializer})
    def partial_update(self, request, pk=None):
        user = self.get_object()
        data = UserUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_update(user=user, **data.validated_data)
        return Response(UserSerializer(user).data)
