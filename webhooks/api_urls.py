from bnpl.routers import Router
from webhooks.api import WebhookEventViewSet

router = Router()
router.register("webhook-events", WebhookEventViewSet, basename="webhook-event")
urlpatterns = router.urls
