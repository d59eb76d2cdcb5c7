"""Settings the API adds: the cache that holds throttle counts, read from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _caches(tmp_path: Path, **env: str) -> dict:
    code = "import json; from django.conf import settings; print(json.dumps(settings.CACHES))"
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CACHE_URL")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                            env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings",
                                 "VERITY_DATA_DIR": str(tmp_path), **env})
    return json.loads(result.stdout)["default"]


def test_the_cache_is_local_memory_by_default(tmp_path):
    assert _caches(tmp_path)["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


@pytest.mark.parametrize("name", ["REDIS_URL", "CACHE_URL"])
def test_the_cache_is_redis_when_a_url_is_set(tmp_path, name):
    cache = _caches(tmp_path, **{name: "redis://127.0.0.1:6379/3"})
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == "redis://127.0.0.1:6379/3"


def test_a_bad_uncertain_margin_fails_at_start(tmp_path):
    code = "from django.conf import settings; settings.VERITY_UNCERTAIN_MARGIN"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings",
                                 "VERITY_DATA_DIR": str(tmp_path), "VERITY_UNCERTAIN_MARGIN": "0.7"})
    assert result.returncode != 0 and "VERITY_UNCERTAIN_MARGIN" in result.stderr
