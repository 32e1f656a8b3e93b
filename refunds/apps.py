from django.apps import AppConfig


class RefundsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "refunds"

    def ready(self) -> None:
        from events.types import register_representer, serializer_representer

        # refund.*: a refund as GET /refunds/{id}/ shows it.
        register_representer("refund", serializer_representer("refunds.api.RefundSerializer"))
