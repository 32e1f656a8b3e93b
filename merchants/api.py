from typing import cast

from django.db.models import QuerySet
from drf_yasg.utils import swagger_auto_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from bnpl.idempotency import idempotent
from bnpl.models import ApiKey, Role
from bnpl.serializers import CachedFieldsMixin, CompiledReadViewSet
from bnpl.views import PreparedObjectMixin
from merchants import services
from merchants.models import Merchant
from merchants.selectors import merchant_visible_to, merchants_visible_to

ALL_ROLES = {Role.CLIENT, Role.MERCHANT, Role.OPERATOR}


class MerchantSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Merchant
        fields = ["id", "name", "created_at"]
        read_only_fields = ["id", "created_at"]


class MerchantWithSecretSerializer(MerchantSerializer):
    """Only on creation and rotation: the one time the secret is shown."""

    webhook_secret = serializers.CharField(read_only=True)

    class Meta(MerchantSerializer.Meta):
        fields = ["id", "name", "webhook_secret", "created_at"]


class MerchantCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class MerchantViewSet(PreparedObjectMixin, CompiledReadViewSet):
    serializer_class = MerchantSerializer
    roles = {"list": ALL_ROLES, "retrieve": ALL_ROLES, "create": {Role.OPERATOR},
             "rotate_secret": {Role.OPERATOR}}

    def get_queryset(self) -> QuerySet[Merchant]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Merchant.objects.none()
        return merchants_visible_to(api_key=cast(ApiKey, self.request.auth))  # ApiKeyAuthentication sets it

    def prepared_object(self, pk: str) -> Merchant | None:
        return merchant_visible_to(api_key=cast(ApiKey, self.request.auth), pk=pk)

    @swagger_auto_schema(request_body=MerchantCreateSerializer, responses={201: MerchantWithSecretSerializer})
    @idempotent
    def create(self, request: Request) -> Response:
        data = MerchantCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        merchant = services.merchant_create(**data.validated_data)
        return Response(MerchantWithSecretSerializer(merchant).data, status=status.HTTP_201_CREATED)

    @swagger_auto_schema(responses={200: MerchantWithSecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    @idempotent
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        merchant = services.merchant_rotate_secret(merchant=self.get_object())
        return Response(MerchantWithSecretSerializer(merchant).data)
