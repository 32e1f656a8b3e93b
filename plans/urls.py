from django.urls import re_path
from rest_framework.routers import SimpleRouter

from plans.api import PlanViewSet
from plans.journal_api import PlanTransactionViewSet

router = SimpleRouter()
router.register("plans", PlanViewSet, basename="plan")
urlpatterns = [
    re_path(r"^plans/(?P<plan_id>[^/.]+)/transactions/$", PlanTransactionViewSet.as_view({"get": "list"}),
            name="plan-transactions"),
    *router.urls,
]
