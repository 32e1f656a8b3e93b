from django.urls import re_path

from bnpl.routers import ASCII_LOOKUP, Router
from plans.api import PlanViewSet
from plans.installments_api import InstallmentViewSet
from plans.journal_api import PlanTransactionViewSet

router = Router()
router.register("plans", PlanViewSet, basename="plan")
router.register("installments", InstallmentViewSet, basename="installment")
urlpatterns = [
    re_path(rf"^plans/(?P<plan_id>{ASCII_LOOKUP})/transactions/$", PlanTransactionViewSet.as_view({"get": "list"}),
            name="plan-transactions"),
    *router.urls,
]
