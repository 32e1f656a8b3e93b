"""HTTP for status history (API.md §11): ``GET /api/v1/audit-events/``, operators only."""
import django_filters
from drf_yasg.utils import swagger_auto_schema
from rest_framework import mixins, serializers, viewsets

from audit.models import AuditEvent, ObjectType
from audit.selectors import audit_events
from bnpl.models import Role
from bnpl.pagination import CreatedCursorPagination


class OldestFirstCursorPagination(CreatedCursorPagination):
    # The same limits and cursor validation as every list (bnpl.pagination), oldest first.
    ordering = ("created_at", "id")


class ActorSerializer(serializers.Serializer):
    type = serializers.CharField(source="actor_type", help_text="`api_key`, `webhook`, `system` or `admin`.")
    name = serializers.CharField(source="actor_name", allow_blank=True,
                                 help_text="The API key's name, the webhook event, the task or the admin user.")


class AuditEventSerializer(serializers.ModelSerializer):
    actor = ActorSerializer(source="*")
    old = serializers.CharField(allow_null=True, help_text="null for the first status of a new object.")
    # Declared for the schema: a field generated from CharField(blank=True) is documented with
    # minLength 1, and a task's change has no request id.
    request_id = serializers.CharField(allow_blank=True, help_text="The request's X-Request-ID; empty for tasks.")

    class Meta:
        model = AuditEvent
        fields = ["id", "object_type", "object_id", "field", "old", "new", "actor", "request_id", "created_at"]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["old"] = data["old"] or None
        return data


class AuditEventFilter(django_filters.FilterSet):
    object_id = django_filters.UUIDFilter(field_name="object_id")
    object_type = django_filters.ChoiceFilter(choices=ObjectType.choices)

    class Meta:
        model = AuditEvent
        fields = ["object_id", "object_type"]


class AuditEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    pagination_class = OldestFirstCursorPagination
    roles = {"list": {Role.OPERATOR}}

    def get_queryset(self):
        return audit_events()

    @swagger_auto_schema(operation_description=(
        "Every status change of a user, plan, installment, refund or payout, oldest first "
        "(cursor-paginated). Operators only. `actor.type` is `api_key` (the key's name), `webhook` "
        "(the merchant webhook event's id), `system` (a beat task such as the overdue sweep) or `admin` "
        "(the staff user's name); `request_id` is the `X-Request-ID` of the request that caused it "
        "(empty for tasks). `old` is null when an object is created in its first status."))
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)
