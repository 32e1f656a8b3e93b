from rest_framework.routers import SimpleRouter

from webhooks.api import WebhookEventViewSet

router = SimpleRouter()
router.register("webhook-events", WebhookEventViewSet, basename="webhook-event")
urlpatterns = router.urls
