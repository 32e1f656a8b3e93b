from django.apps import AppConfig


class OpsConfig(AppConfig):
    """The operations layer on top of every domain app: health page, metrics, demo data."""

    name = "ops"
    default_auto_field = "django.db.models.BigAutoField"
