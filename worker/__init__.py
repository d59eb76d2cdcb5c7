"""Celery tasks: thin glue that loads rows, calls ml/, and hands results to verification.services."""
