"""Local development: the embedded default (SQLite, in-process tasks) unless the environment says otherwise."""
from bnpl.settings.base import *  # noqa: F403
from bnpl.settings.env import env_bool, env_list

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = SECRET_KEY or "local-development-only-not-secret"  # noqa: F405
# Development keys so that the embedded default runs with no setup; production has none.
BNPL_FIELD_ENCRYPTION_KEYS = BNPL_FIELD_ENCRYPTION_KEYS or ["3l8lTdPkLZVZ1B5l3yMN5x6LmkV4t9DXtT9HfPQ7cUg="]  # noqa: F405
BNPL_LOOKUP_HASH_KEY = BNPL_LOOKUP_HASH_KEY or "local-lookup-hash-key-not-secret"  # noqa: F405
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "*")
# Webhook receivers on this machine or its network are fine while developing (the seed_demo
# walkthrough registers one on localhost); production keeps refusing them (API.md §14).
BNPL_WEBHOOK_ALLOW_PRIVATE = env_bool("BNPL_WEBHOOK_ALLOW_PRIVATE", True)
