from django.apps import AppConfig


class EventsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "events"

    def ready(self) -> None:
        # A bad BNPL_WEBHOOK_RETRY_SCHEDULE refuses to start, rather than failing at the first retry.
        from events.delivery import retry_schedule

        retry_schedule()
