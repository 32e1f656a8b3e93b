from django.urls import re_path
from rest_framework.routers import SimpleRouter

from ledger.api import PayoutViewSet, UserTransactionViewSet

router = SimpleRouter()
router.register("payouts", PayoutViewSet, basename="payout")
urlpatterns = [
    re_path(r"^users/(?P<user_id>[^/.]+)/transactions/$", UserTransactionViewSet.as_view({"get": "list"}),
            name="user-transactions"),
    *router.urls,
]
