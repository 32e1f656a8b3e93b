"""``/installments/{id}/<action>/`` routes (API.md §13), one per action, side by side."""
from django.urls import re_path

from bnpl.routers import ASCII_LOOKUP
from plans.installments_api import InstallmentViewSet

urlpatterns = [
    re_path(rf"^installments/(?P<installment_id>{ASCII_LOOKUP})/waive-fees/$",
            InstallmentViewSet.as_view({"post": "waive_fees"}), name="installment-waive-fees"),
]
