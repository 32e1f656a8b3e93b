from django.apps import AppConfig


class BnplConfig(AppConfig):
    """The platform layer: API keys, idempotency records and the cross-cutting pieces."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "bnpl"
    verbose_name = "Platform"

    def ready(self) -> None:
        from bnpl.money import exponent

        # An unknown BNPL_CURRENCY refuses to start (ImproperlyConfigured): its places would be a guess.
        exponent()
