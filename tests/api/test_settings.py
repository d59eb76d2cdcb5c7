"""Settings the API adds: the cache that holds throttle counts, read from the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fresh_settings import run_with_settings


def _caches(tmp_path: Path, **env: str) -> dict:
    code = "import json; from django.conf import settings; print(json.dumps(settings.CACHES))"
    result = run_with_settings(code, tmp_path, env=env, unset=("REDIS_URL", "CACHE_URL"))
    assert result.returncode == 0, result.stderr
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
    result = run_with_settings(code, tmp_path, env={"VERITY_UNCERTAIN_MARGIN": "0.7"})
    assert result.returncode != 0 and "VERITY_UNCERTAIN_MARGIN" in result.stderr
