"""HTTP for the merchant webhook (signed, no API key) and the operators' view of the inbox."""
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_yasg import openapi
from drf_yasg.utils import swagger_auto_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from bnpl.errors import InvalidSignature, RequestTooLarge, ValidationFailed
from bnpl.filters import status_and_ids_filterset
from bnpl.models import Role
from bnpl.pagination import CreatedCursorPagination
from bnpl.parsers import loads_decimal
from bnpl.schema import problem_response
from merchants.models import Merchant
from refunds.api import REASON_MAX_LENGTH
from refunds.models import Refund, RefundStatus
from webhooks import services, signature
from webhooks.models import EventStatus, WebhookEvent
from webhooks.selectors import webhook_event_queryset

EVENT_TYPE = "refund.status_changed"
WEBHOOK_ID_MAX_LENGTH = 255
WEBHOOK_TOO_LARGE = "The webhook body is larger than this endpoint accepts."


class StrictUUIDField(serializers.UUIDField):
    """A UUID written as a JSON string (DRF would also take an integer)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class WebhookDataSerializer(serializers.Serializer):
    merchant_id = StrictUUIDField()
    refund_id = StrictUUIDField(required=False, help_text="Either this or transaction_id (or both).")
    transaction_id = serializers.CharField(min_length=1, max_length=64, trim_whitespace=False, required=False)
    status = serializers.ChoiceField(choices=[RefundStatus.APPROVED, RefundStatus.REJECTED])
    reason = serializers.CharField(max_length=REASON_MAX_LENGTH, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if "refund_id" not in attrs and "transaction_id" not in attrs:
            raise serializers.ValidationError({"refund_id": ["Give refund_id or transaction_id."]})
        return attrs


class WebhookBodySerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[EVENT_TYPE])
    timestamp = serializers.CharField(required=False, max_length=64, help_text="When the merchant decided.")
    data = WebhookDataSerializer()


class WebhookAcceptedSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The `webhook-id` header.")
    status = serializers.ChoiceField(choices=["accepted", "duplicate"])


def _read_body(request) -> bytes:
    limit = settings.BNPL_WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise RequestTooLarge(WEBHOOK_TOO_LARGE)
    try:
        body = request.body
    except RequestDataTooBig:
        raise RequestTooLarge(WEBHOOK_TOO_LARGE) from None
    if len(body) > limit:
        raise RequestTooLarge(WEBHOOK_TOO_LARGE)
    return body


def _claimed_merchant(body: bytes) -> tuple[Merchant, dict]:
    """The merchant the body names, to verify against. Nothing else in it is trusted yet."""
    try:
        parsed = loads_decimal(body.decode())
        merchant_id = StrictUUIDField().to_internal_value(parsed["data"]["merchant_id"])
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, serializers.ValidationError):
        raise InvalidSignature() from None
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None:
        raise InvalidSignature()
    return merchant, parsed


def _header(name: str, description: str) -> openapi.Parameter:
    return openapi.Parameter(name, openapi.IN_HEADER, type=openapi.TYPE_STRING, required=True,
                             description=description)


class RefundStatusWebhookView(APIView):
    """``POST /webhook/refund-status/``: authenticated by its signature, not by an API key."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []
    parser_classes: list = []  # the raw body is verified before anything parses it

    @swagger_auto_schema(
        operation_id="webhook_refund_status",
        security=[],
        request_body=WebhookBodySerializer,
        manual_parameters=[
            _header("webhook-id", "Unique message id (at most 255 chars); redeliveries repeat it."),
            _header("webhook-timestamp", "Unix seconds; must be within BNPL_WEBHOOK_TOLERANCE_SECONDS "
                                         "(default 300) of now, either way."),
            _header("webhook-signature", "Space-separated `v1,<base64 HMAC-SHA256 of "
                                         "\"{webhook-id}.{webhook-timestamp}.{raw body}\">`, keyed with the "
                                         "base64-decoded part of the merchant's current `whsec_` secret."),
        ],
        operation_description=(
            "A merchant reports its decision on a refund (Standard Webhooks signing). The merchant is "
            "`data.merchant_id`; the signature is checked with its current secret (a rotated-out secret "
            "fails at once). A body that is not JSON or names no existing merchant cannot be verified "
            "and is answered 401 like any other signature failure. Only after a valid signature is the "
            "body validated (400) and the refund looked up among that merchant's refunds (404; "
            "`refund_id` and `transaction_id` must both match when both are given). A valid event is "
            "stored, answered 202 at once and applied asynchronously through the same service as the "
            "approve/reject endpoints; a decided refund is never moved (the event is kept IGNORED with "
            "the reason, see GET /api/v1/webhook-events/). The same `webhook-id` from the same merchant "
            "again: 200 `duplicate`, no second effect."),
        responses={
            202: WebhookAcceptedSerializer,
            200: openapi.Response("The same `webhook-id` was already received: `{\"id\", \"status\": "
                                  "\"duplicate\"}`.", WebhookAcceptedSerializer),
            400: problem_response("`validation_error`: malformed body (after a valid signature)."),
            401: problem_response("`invalid_signature`: missing or bad signature headers, unknown merchant, "
                                  "or timestamp outside the tolerance (one answer for all)."),
            404: problem_response("`not_found`: no such refund for that merchant."),
            413: problem_response("`request_too_large`: body above BNPL_WEBHOOK_MAX_BODY_BYTES."),
        },
    )
    def post(self, request):
        body = _read_body(request)
        msg_id = request.headers.get("webhook-id", "")
        raw_timestamp = request.headers.get("webhook-timestamp")
        signature_header = request.headers.get("webhook-signature", "")
        if not msg_id or not signature_header:
            raise InvalidSignature()
        timestamp = signature.parse_timestamp(raw_timestamp,
                                              tolerance_seconds=settings.BNPL_WEBHOOK_TOLERANCE_SECONDS)
        merchant, parsed = _claimed_merchant(body)
        signature.verify(secret=merchant.webhook_secret, msg_id=msg_id, timestamp=timestamp, body=body,
                         signature_header=signature_header)
        # Authentic from here on.
        if len(msg_id) > WEBHOOK_ID_MAX_LENGTH:
            raise ValidationFailed("webhook-id", f"At most {WEBHOOK_ID_MAX_LENGTH} characters.", "max_length")
        if WebhookEvent.objects.filter(merchant=merchant, webhook_id=msg_id).exists():
            return Response({"id": msg_id, "status": "duplicate"}, status=status.HTTP_200_OK)
        event = WebhookBodySerializer(data=parsed)
        event.is_valid(raise_exception=True)
        data = event.validated_data["data"]
        refunds = Refund.objects.filter(merchant=merchant)
        if "refund_id" in data:
            refunds = refunds.filter(pk=data["refund_id"])
        if "transaction_id" in data:
            refunds = refunds.filter(transaction_id=data["transaction_id"])
        refund = refunds.first()
        if refund is None:
            raise NotFound("No such refund for this merchant.")
        payload = {
            "type": event.validated_data["type"],
            "timestamp": event.validated_data.get("timestamp"),
            "data": {"merchant_id": str(merchant.pk), "refund_id": str(refund.pk),
                     "transaction_id": refund.transaction_id, "status": data["status"], "reason": data["reason"]},
        }
        _, created = services.webhook_event_receive(merchant=merchant, webhook_id=msg_id, event_type=EVENT_TYPE,
                                                    payload=payload, refund=refund)
        if not created:
            return Response({"id": msg_id, "status": "duplicate"}, status=status.HTTP_200_OK)
        return Response({"id": msg_id, "status": "accepted"}, status=status.HTTP_202_ACCEPTED)


class WebhookEventSerializer(serializers.ModelSerializer):
    merchant_id = serializers.UUIDField(read_only=True)
    refund_id = serializers.UUIDField(read_only=True, allow_null=True)
    # Declared for the schema: "" until the event is IGNORED or FAILED (read-only fields generated from
    # TextField(blank=True) are documented with minLength 1).
    status_reason = serializers.CharField(read_only=True, allow_blank=True)

    class Meta:
        model = WebhookEvent
        fields = ["id", "merchant_id", "webhook_id", "event_type", "refund_id", "status", "status_reason",
                  "attempts", "received_at", "processed_at"]
        read_only_fields = fields


class WebhookEventPagination(CreatedCursorPagination):
    ordering = ("-received_at", "-id")


WebhookEventFilter = status_and_ids_filterset(WebhookEvent, status_choices=EventStatus.choices,
                                              ids=["merchant_id", "refund_id"])


class WebhookEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The webhook inbox and each event's processing state (operators). The payload is never shown."""

    serializer_class = WebhookEventSerializer
    pagination_class = WebhookEventPagination
    filterset_class = WebhookEventFilter
    roles = {"list": {Role.OPERATOR}, "retrieve": {Role.OPERATOR}}

    def get_queryset(self):
        return webhook_event_queryset()
