"""Production: refuses to start without its secrets; passes ``manage.py check --deploy``."""
from django.core.exceptions import ImproperlyConfigured

from bnpl.settings.base import *  # noqa: F403
from bnpl.settings.env import env_bool, env_int

for _name, _value in {
    "DJANGO_SECRET_KEY": SECRET_KEY,  # noqa: F405
    "BNPL_FIELD_ENCRYPTION_KEYS": BNPL_FIELD_ENCRYPTION_KEYS,  # noqa: F405
    "BNPL_LOOKUP_HASH_KEY": BNPL_LOOKUP_HASH_KEY,  # noqa: F405
}.items():
    if not _value:
        raise ImproperlyConfigured(f"{_name} must be set in production")

DEBUG = False
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/(live|ready)/$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
