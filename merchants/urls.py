from bnpl.routers import Router
from merchants.api import MerchantViewSet

router = Router()
router.register("merchants", MerchantViewSet, basename="merchant")
urlpatterns = router.urls
