from rest_framework.routers import SimpleRouter

from events.api import EventViewSet, WebhookEndpointViewSet

router = SimpleRouter()
router.register("events", EventViewSet, basename="event")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")
urlpatterns = router.urls
