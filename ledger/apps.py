from django.apps import AppConfig


class LedgerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ledger"

    def ready(self) -> None:
        from events.types import register_representer, serializer_representer

        # payout.status_changed: a payout as GET /payouts/{id}/ shows it.
        register_representer("payout", serializer_representer("ledger.api.PayoutSerializer"))
