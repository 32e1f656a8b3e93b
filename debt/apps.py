from django.apps import AppConfig


class DebtConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "debt"

    def ready(self) -> None:
        from debt.aging import buckets
        from events.types import register_representer, serializer_representer

        # A malformed BNPL_AGING_BUCKETS refuses to start (ImproperlyConfigured), not on the first report.
        buckets()

        # repayment.created: a repayment as GET /debt/{user_id}/repayments/ lists it (from its RepaymentResult).
        register_representer("repayment", serializer_representer("debt.api.RepaymentCreatedSerializer"))
        # repayment.reversed: a reversal as POST /repayments/{id}/reverse/ answers it.
        register_representer("repayment_reversal", serializer_representer("debt.reversal_api.ReversalSerializer"))
        # user.status_changed: a user as GET /users/{id}/ shows it (masked). Registered here, not in
        # users: the debt status is this app's, and users sits below events in the dependency order.
        register_representer("user", serializer_representer("users.api.UserSerializer"))
