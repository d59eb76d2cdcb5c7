"""Test-run environment, set before Django loads its settings (pytest-django configures Django
after the root conftest is imported, because pytest.ini names no settings module).

Tests keep their files under var/test, apart from a running portal's var/. DATABASE_URL and
CELERY_BROKER_URL, when set, point the suite at real PostgreSQL and Redis; unset, it runs on
the embedded default (SQLite and the filesystem broker)."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("VERITY_DATA_DIR", str(ROOT / "var" / "test"))
os.environ.setdefault("VERITY_TORCH_THREADS", "2")

# Load the settings now, so that pytest-django's pytest_configure finds them configured and
# sets Django up before test modules are collected.
from django.conf import settings  # noqa: E402

settings.DATABASES  # noqa: B018
