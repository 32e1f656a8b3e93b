from django.apps import AppConfig


def refund_resource(refund) -> dict:
    """A refund as ``GET /refunds/{id}/`` shows it: the ``data`` of ``refund.*`` events."""
    from refunds.api import RefundSerializer

    return RefundSerializer(refund).data


class RefundsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "refunds"

    def ready(self) -> None:
        from events.types import register_representer

        register_representer("refund", refund_resource)
