from django.urls import re_path

from debt.api import DebtViewSet
from debt.reversal_api import RepaymentReversalViewSet

# Any segment reaches the view, so a malformed id is a 404 after authentication, like an unknown one.
urlpatterns = [
    re_path(r"^debt/(?P<user_id>[^/.]+)/$", DebtViewSet.as_view({"get": "retrieve", "post": "create"}),
            name="debt-detail"),
    re_path(r"^debt/(?P<user_id>[^/.]+)/repayments/$", DebtViewSet.as_view({"get": "repayments"}),
            name="debt-repayments"),
    re_path(r"^repayments/(?P<repayment_id>[^/.]+)/reverse/$",
            RepaymentReversalViewSet.as_view({"post": "reverse"}), name="repayment-reverse"),
]
