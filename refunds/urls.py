from bnpl.routers import Router
from refunds.api import RefundViewSet

router = Router()
router.register("refunds", RefundViewSet, basename="refund")
urlpatterns = router.urls
