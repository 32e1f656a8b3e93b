"""HTTP for events and webhook endpoints (API.md §14): validate, call one service, shape the output."""
import re

import django_filters
from drf_yasg import openapi
from drf_yasg.utils import no_body, swagger_auto_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from bnpl.errors import ValidationFailed
from bnpl.idempotency import idempotent
from bnpl.models import Role
from bnpl.pagination import CreatedCursorPagination
from bnpl.schema import page_serializer
from events import services
from events.models import Audience, DeliveryStatus, Event, WebhookDelivery, WebhookEndpoint
from events.selectors import deliveries_of, endpoints_visible_to, events_visible_to
from events.serializers import EventSerializer
from events.types import EVENT_TYPES
from merchants.models import Merchant

ALL_ROLES = {Role.CLIENT, Role.MERCHANT, Role.OPERATOR}
ENDPOINT_ROLES = {Role.MERCHANT, Role.OPERATOR}
EVENT_ID = re.compile(r"^evt_[0-9A-HJKMNP-TV-Z]{26}$")


class EventCursorPagination(CreatedCursorPagination):
    """Oldest first. Event ids sort by creation time (a ULID), so the cursor is the id itself.
    The limits are every list's; a cursor this API did not issue is a 400, as on every list."""

    ordering = ("id",)

    def decode_cursor(self, request):
        error = ValidationError({"cursor": ["Not a cursor this API issued; follow `next` or `previous`."]})
        try:
            cursor = CursorPagination.decode_cursor(self, request)
        except NotFound:
            raise error from None
        if cursor is not None and cursor.position is not None and not EVENT_ID.match(str(cursor.position)):
            raise error
        return cursor


class EventFilter(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(choices=[(t, t) for t in EVENT_TYPES])
    after = django_filters.CharFilter(method="filter_after", help_text="An event id: only events after it.")

    class Meta:
        model = Event
        fields = ["type", "after"]

    def filter_after(self, queryset, name, value):
        if not EVENT_ID.match(value):
            raise ValidationFailed("after", "Must be an event id (evt_ and 26 characters).", "invalid")
        return queryset.filter(id__gt=value)


class RedeliverySerializer(serializers.Serializer):
    event_id = serializers.CharField()
    deliveries_queued = serializers.IntegerField(help_text="Matching endpoints a new delivery was queued to.")


class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = EventSerializer
    filterset_class = EventFilter
    pagination_class = EventCursorPagination
    roles = {"list": ALL_ROLES, "retrieve": ALL_ROLES, "redeliver": {Role.OPERATOR, Role.MERCHANT}}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Event.objects.none()
        return events_visible_to(api_key=self.request.auth)

    @swagger_auto_schema(operation_description=(
        "Events for polling, oldest first. A merchant sees the events of its own plans and refunds (never "
        "`user.status_changed` or repayments); client apps and operators see all. `?after=<event id>` returns "
        "only later events (ids sort by creation time; the id need not exist any more). Delivery order is not "
        "guaranteed: an event written by a longer transaction can appear just behind a later one, so a poller "
        "should re-read from a few seconds back and deduplicate by `id`."))
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @swagger_auto_schema(request_body=no_body, responses={202: RedeliverySerializer}, operation_description=(
        "Queue a new delivery (attempt 1 of the retry schedule) of this event to every enabled endpoint it "
        "matches; a merchant's request only to that merchant's own endpoints. 202 even when none matches."))
    @action(detail=True, methods=["post"])
    @idempotent
    def redeliver(self, request, pk=None):
        event = self.get_object()
        own = request.auth.merchant_id if request.auth.role == Role.MERCHANT else None
        queued = services.event_redeliver(event=event, merchant_id=own)
        return Response({"event_id": event.pk, "deliveries_queued": queued}, status=status.HTTP_202_ACCEPTED)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    merchant_id = serializers.UUIDField(read_only=True, allow_null=True)
    event_types = serializers.ListField(child=serializers.CharField(), read_only=True,
                                        help_text='`["*"]`: every type the audience may see.')
    # Declared: a read-only model field loses ``allow_blank`` and the schema would say minLength 1,
    # while an endpoint created without a description shows "" (schemathesis found it).
    description = serializers.CharField(read_only=True, allow_blank=True)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "audience", "merchant_id", "event_types", "description", "status",
                  "created_at", "disabled_at"]
        read_only_fields = fields


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    """Only on creation and rotation: the one time the secret is shown."""

    secret = serializers.CharField(read_only=True, help_text="`whsec_…`, shown only here.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2048, trim_whitespace=False, help_text=(
        "https only (http too when DJANGO_DEBUG is on); a host resolving to a loopback, private, link-local, "
        "CGNAT, multicast, reserved or unspecified address is refused (`forbidden_address`), as is one that "
        "does not resolve (`unresolvable`), unless BNPL_WEBHOOK_ALLOW_PRIVATE is on."))
    event_types = serializers.ListField(child=serializers.CharField(max_length=64), required=False,
                                        allow_null=True, max_length=len(EVENT_TYPES) + 1,
                                        help_text='Default (or `["*"]`): every type the audience may see.')
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    audience = serializers.ChoiceField(choices=Audience.choices, required=False, help_text=(
        "Operator only: `client` for the provider's apps (every event). Default `merchant`."))
    merchant_id = serializers.UUIDField(required=False, help_text=(
        "Operator: the merchant (required for audience `merchant`). A merchant key: omitted or its own."))


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    response_body = serializers.CharField(read_only=True, allow_blank=True,
                                          help_text="At most 1 KiB of what the receiver answered.")
    error = serializers.CharField(read_only=True, allow_blank=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_id", "event_type", "attempt", "status", "status_code", "duration_ms", "error",
                  "next_attempt_at", "attempted_at", "response_body", "created_at"]
        read_only_fields = fields


DeliveryPageSerializer = page_serializer("DeliveryPageSerializer", DeliverySerializer)


class DeliveryFilter(django_filters.FilterSet):
    event_id = django_filters.CharFilter(field_name="event_id")
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)

    class Meta:
        model = WebhookDelivery
        fields = ["event_id", "status"]


class WebhookEndpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = WebhookEndpointSerializer
    roles = {action: ENDPOINT_ROLES for action in
             ("list", "retrieve", "create", "destroy", "rotate_secret", "deliveries")}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return WebhookEndpoint.objects.none()
        return endpoints_visible_to(api_key=self.request.auth)

    @swagger_auto_schema(request_body=WebhookEndpointCreateSerializer,
                         responses={201: WebhookEndpointWithSecretSerializer}, operation_description=(
        "A merchant key creates endpoints for itself; an operator for any merchant (`merchant_id`) or, with "
        "`audience: client`, for the provider's apps. The `secret` is shown only in this answer and on "
        "rotate-secret. A merchant asking for `audience: client` is 403."))
    @idempotent
    def create(self, request):
        data = WebhookEndpointCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        audience = values.get("audience", Audience.MERCHANT)
        merchant_id = values.get("merchant_id")
        if request.auth.role == Role.MERCHANT:
            if audience != Audience.MERCHANT:
                raise PermissionDenied("A merchant key creates endpoints for its own merchant only.")
            if merchant_id is not None and merchant_id != request.auth.merchant_id:
                raise ValidationFailed("merchant_id", "No such object.", "does_not_exist")
            merchant_id = request.auth.merchant_id
        merchant = None
        if audience == Audience.CLIENT:
            if merchant_id is not None:
                raise ValidationFailed("merchant_id", "Not allowed with audience client.", "not_allowed")
        else:
            if merchant_id is None:
                raise ValidationFailed("merchant_id", "Required for audience merchant.", "required")
            merchant = Merchant.objects.defer("webhook_secret").filter(pk=merchant_id).first()
            if merchant is None:
                raise ValidationFailed("merchant_id", "No such object.", "does_not_exist")
        endpoint = services.webhook_endpoint_create(
            url=values["url"], audience=audience, merchant=merchant, event_types=values.get("event_types"),
            description=values.get("description", ""))
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @swagger_auto_schema(responses={204: "Deleted: no further deliveries; pending ones are FAILED."})
    def destroy(self, request, pk=None):
        services.webhook_endpoint_delete(endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @swagger_auto_schema(request_body=no_body, responses={200: WebhookEndpointWithSecretSerializer},
                         operation_description=(
        "A new secret, shown once. For 24 hours deliveries carry signatures by both the new and the old "
        "secret (space-separated), so the receiver can switch without a gap."))
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    @idempotent
    def rotate_secret(self, request, pk=None):
        endpoint = services.webhook_endpoint_rotate_secret(endpoint=self.get_object())
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data)

    # A custom action: drf-yasg documents neither its pagination parameters nor the list's 400 by itself
    # (schemathesis found the undocumented 400 of a malformed filter).
    @swagger_auto_schema(responses={200: DeliveryPageSerializer, 400: (
                             "`validation_error`: a malformed `event_id` or `status`, a `limit` that is not a whole "
                             "number from 1 (above 200 is capped), or a `cursor` this API did not issue.")},
                         manual_parameters=[
                             openapi.Parameter("event_id", openapi.IN_QUERY, type=openapi.TYPE_STRING),
                             openapi.Parameter("status", openapi.IN_QUERY, type=openapi.TYPE_STRING,
                                               enum=DeliveryStatus.values),
                             openapi.Parameter("limit", openapi.IN_QUERY, type=openapi.TYPE_INTEGER,
                                               description="Page size, default 50, max 200."),
                             openapi.Parameter("cursor", openapi.IN_QUERY, type=openapi.TYPE_STRING,
                                               description="The `next`/`previous` link's cursor.")],
                         operation_description=(
        "Every attempt, newest first: a failed attempt is followed by a new one (`attempt` + 1) due at its "
        "`next_attempt_at`, after the retry schedule's delay (±10 %)."))
    @action(detail=True, methods=["get"], pagination_class=CreatedCursorPagination,
            serializer_class=DeliverySerializer)
    def deliveries(self, request, pk=None):
        endpoint = self.get_object()
        deliveries = DeliveryFilter(request.GET, queryset=deliveries_of(endpoint=endpoint))
        if not deliveries.is_valid():
            raise ValidationFailed(*next(
                (attr, str(errors[0]), "invalid") for attr, errors in deliveries.errors.items()))
        page = self.paginate_queryset(deliveries.qs)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)
