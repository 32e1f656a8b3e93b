from django.urls import re_path

from bnpl.routers import ASCII_LOOKUP
from debt.aging_api import AgingReportView
from debt.api import DebtViewSet
from debt.reversal_api import RepaymentReversalViewSet

# Any ASCII segment reaches the view, so a malformed id is a 404 after authentication, like an unknown one
# (a non-ASCII one matches no route: bnpl.routers).
urlpatterns = [
    re_path(rf"^debt/(?P<user_id>{ASCII_LOOKUP})/$", DebtViewSet.as_view({"get": "retrieve", "post": "create"}),
            name="debt-detail"),
    re_path(rf"^debt/(?P<user_id>{ASCII_LOOKUP})/repayments/$", DebtViewSet.as_view({"get": "repayments"}),
            name="debt-repayments"),
    re_path(r"^repayments/(?P<repayment_id>[^/.]+)/reverse/$",
            RepaymentReversalViewSet.as_view({"post": "reverse"}), name="repayment-reverse"),
    re_path(r"^reports/aging/$", AgingReportView.as_view(), name="reports-aging"),
]
