from rest_framework.routers import SimpleRouter

from plans.api import PlanViewSet

router = SimpleRouter()
router.register("plans", PlanViewSet, basename="plan")
urlpatterns = router.urls
