from bnpl.routers import Router
from plans.api import PlanViewSet

router = Router()
router.register("plans", PlanViewSet, basename="plan")
urlpatterns = router.urls
