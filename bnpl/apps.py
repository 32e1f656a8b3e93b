from django.apps import AppConfig


class BnplConfig(AppConfig):
    """The platform layer: API keys, idempotency records and the cross-cutting pieces."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "bnpl"
    verbose_name = "Platform"

    def ready(self) -> None:
        from bnpl.late_fees import late_fee_steps
        from bnpl.money import exponent

        # An unknown BNPL_CURRENCY refuses to start (ImproperlyConfigured): its places would be a guess.
        exponent()
        # So does a late-fee step with more places than the currency has, or a cap outside 0-100.
        late_fee_steps()
