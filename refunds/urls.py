from rest_framework.routers import SimpleRouter

from refunds.api import RefundViewSet

router = SimpleRouter()
router.register("refunds", RefundViewSet, basename="refund")
urlpatterns = router.urls
