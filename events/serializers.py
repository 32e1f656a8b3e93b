"""The wire form of an event: what `GET /events/{id}/` shows and what a delivery POSTs (API.md §14)."""
from rest_framework import serializers

from events.models import Event


class EventSerializer(serializers.ModelSerializer):
    """An event as listed, read and delivered: ``data`` is the resource as the API showed it then."""

    data = serializers.JSONField(read_only=True)  # type: ignore[assignment]  # a field named like a Serializer attribute: DRF's metaclass moves declared fields off the class, the stubs cannot know

    class Meta:
        model = Event
        fields = ["id", "type", "created_at", "data"]
        read_only_fields = fields
