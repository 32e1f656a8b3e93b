"""HTTP for the merchant webhook (signed, no API key) and the operators' view of the inbox."""
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.http import parse_header_parameters
from drf_yasg import openapi
from drf_yasg.utils import swagger_auto_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.response import Response
from rest_framework.views import APIView

from bnpl.errors import RequestTooLarge
from bnpl.filters import status_and_ids_filterset
from bnpl.models import Role
from bnpl.pagination import CreatedCursorPagination
from bnpl.schema import problem_response
from bnpl.strict_fields import StrictUUIDField
from refunds.models import REASON_MAX_LENGTH, RefundStatus
from webhooks import services, signature
from webhooks.models import EventStatus, WebhookEvent
from webhooks.selectors import merchant_signing_key, webhook_event_queryset

WEBHOOK_TOO_LARGE = "The webhook body is larger than this endpoint accepts."


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
    type = serializers.ChoiceField(choices=[services.REFUND_STATUS_CHANGED])
    timestamp = serializers.CharField(required=False, max_length=64, help_text="When the merchant decided.")
    data = WebhookDataSerializer()  # type: ignore[assignment]  # a field named like a Serializer attribute: DRF's metaclass moves declared fields off the class, the stubs cannot know


class WebhookAcceptedSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The `webhook-id` header.")
    status = serializers.ChoiceField(choices=["accepted", "duplicate"])


def _require_json(request) -> None:
    media_type, _ = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
    if media_type != "application/json":
        raise UnsupportedMediaType(media_type or "none", detail="Send the webhook as application/json.")


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
            _header("webhook-timestamp", "Unix seconds as a plain integer of at most 12 ASCII digits; must be "
                                         "within BNPL_WEBHOOK_TOLERANCE_SECONDS (default 300) of now, either way."),
            _header("webhook-signature", "Space-separated `v1,<base64 HMAC-SHA256 of "
                                         "\"{webhook-id}.{webhook-timestamp}.{raw body}\">`, keyed with the "
                                         "base64-decoded part of the merchant's current `whsec_` secret."),
        ],
        operation_description=(
            "A merchant reports its decision on a refund (Standard Webhooks signing). The body must be "
            "`application/json` (else 415). The merchant is `data.merchant_id`; the signature is checked with "
            "its current secret (a rotated-out secret fails at once). A body that is not JSON, nests deeper "
            "than 32 levels, or names no existing merchant cannot be verified and is answered 401 like any "
            "other signature failure. Only after a valid signature is the body validated (400) and the refund "
            "looked up among that merchant's refunds (404; `refund_id` and `transaction_id` must both match "
            "when both are given). A valid event is stored, answered 202 at once and applied asynchronously "
            "through the same service as the approve/reject endpoints; a decided refund is never moved (the "
            "event is kept IGNORED with the reason, see GET /api/v1/webhook-events/). The same `webhook-id` "
            "from the same merchant again, with a valid body: 200 `duplicate`, no second effect."),
        responses={
            202: WebhookAcceptedSerializer,
            200: openapi.Response("The same `webhook-id` was already received: `{\"id\", \"status\": "
                                  "\"duplicate\"}`.", WebhookAcceptedSerializer),
            400: problem_response("`validation_error`: malformed body (after a valid signature)."),
            401: problem_response("`invalid_signature`: missing or bad signature headers, a timestamp that is "
                                  "not a plain integer of at most 12 digits or is outside the tolerance, a body "
                                  "that is not JSON or nests deeper than 32 levels, an unknown merchant (one "
                                  "answer for all)."),
            404: problem_response("`not_found`: no such refund for that merchant."),
            413: problem_response("`request_too_large`: body above BNPL_WEBHOOK_MAX_BODY_BYTES."),
            415: problem_response("`unsupported_media_type`: the `Content-Type` is not `application/json`."),
        },
    )
    def post(self, request):
        _require_json(request)
        message = signature.verify_request(headers=request.headers, body=_read_body(request),
                                           key_for=merchant_signing_key,
                                           tolerance_seconds=settings.BNPL_WEBHOOK_TOLERANCE_SECONDS)
        event = WebhookBodySerializer(data=message.payload)
        event.is_valid(raise_exception=True)
        data = event.validated_data["data"]
        receipt = services.webhook_receive(
            merchant=message.sender, webhook_id=message.msg_id, status=data["status"],
            refund_id=data.get("refund_id"), transaction_id=data.get("transaction_id"), reason=data["reason"],
            sent_at=event.validated_data.get("timestamp"))
        return Response({"id": message.msg_id, "status": receipt.status},
                        status=status.HTTP_202_ACCEPTED if receipt.created else status.HTTP_200_OK)


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
