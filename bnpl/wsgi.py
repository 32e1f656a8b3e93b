"""WSGI entry point: ``gunicorn bnpl.wsgi:application``."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.production")

application = get_wsgi_application()
