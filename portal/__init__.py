"""Django project wiring for Verity. The Celery app is imported here so that
``celery.current_app`` is Verity's app wherever Django is loaded."""

from .celery import app as celery_app

__all__ = ["celery_app"]
