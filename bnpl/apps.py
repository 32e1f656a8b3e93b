from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

REFUND_ALLOCATIONS = ("last_first", "overdue_first")


def check_business_settings() -> None:
    """Business settings whose wrong value would silently change what customers owe: refuse to start."""
    if settings.BNPL_REFUND_ALLOCATION not in REFUND_ALLOCATIONS:
        raise ImproperlyConfigured(f"BNPL_REFUND_ALLOCATION must be one of {', '.join(REFUND_ALLOCATIONS)}; "
                                   f"got {settings.BNPL_REFUND_ALLOCATION!r}.")
    if settings.BNPL_RETURN_PAUSE_DAYS < 0:
        raise ImproperlyConfigured("BNPL_RETURN_PAUSE_DAYS must be 0 (no pause) or more.")
    if settings.BNPL_GRACE_DAYS < 0:
        # A negative grace would make an installment overdue before its due date.
        raise ImproperlyConfigured("BNPL_GRACE_DAYS must be 0 (overdue the day after the due date) or more.")


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
        check_business_settings()
