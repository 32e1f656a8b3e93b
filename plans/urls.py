from django.urls import include, path, re_path

from bnpl.routers import ASCII_LOOKUP, Router
from plans.api import PlanViewSet
from plans.journal_api import PlanTransactionViewSet

router = Router()
router.register("plans", PlanViewSet, basename="plan")
urlpatterns = [
    re_path(rf"^plans/(?P<plan_id>{ASCII_LOOKUP})/transactions/$", PlanTransactionViewSet.as_view({"get": "list"}),
            name="plan-transactions"),
    path("", include("plans.installment_urls")),
    *router.urls,
]
