from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"

    def ready(self) -> None:
        # A stored event is processed by a Celery task; the services cannot import the tasks
        # module (it imports them), so the task's enqueue is handed to them here.
        from webhooks.services import register_event_processing
        from webhooks.tasks import enqueue_event_processing

        register_event_processing(enqueue_event_processing)
