"""Floor A of ``bench/api.py``: the least a Django view under gunicorn can cost.

One view, no middleware, no database, no templates, no apps: what is left is gunicorn's
HTTP handling, Django's request/response objects and URL resolution. Every API endpoint
is reported as a ratio of this.
"""
SECRET_KEY = "bench-floor-not-a-secret"  # noqa: S105 - this project serves {"ok": true} and nothing else
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "floor.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict = {}
USE_TZ = True
