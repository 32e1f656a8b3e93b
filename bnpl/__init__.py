"""The BNPL Debt & Refund Service project package.

Importing the Celery app here makes ``@shared_task`` bind to it whenever Django starts.
"""
from bnpl.celery import app as celery_app

__all__ = ("celery_app",)
__version__ = "1.0.0"
