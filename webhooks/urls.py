from django.urls import path

from webhooks.api import RefundStatusWebhookView

urlpatterns = [path("refund-status/", RefundStatusWebhookView.as_view(), name="webhook-refund-status")]
