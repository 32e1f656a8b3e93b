"""The Celery application ``bnpl`` (``celery -A bnpl worker`` / ``celery -A bnpl beat``)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.local")

app = Celery("bnpl")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
