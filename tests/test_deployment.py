"""Configuration and deployment: settings from the environment, production safety, compose."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from portal.settings import CELERY_TASK_ROUTES

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "VERITY_ENV",
                           "DJANGO_ALLOW_ASYNC_UNSAFE")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


PRODUCTION_ENV = {
    "VERITY_ENV": "production", "SECRET_KEY": "x" * 60 + "-a-long-random-production-secret",
    "DATABASE_URL": "postgres://verity@127.0.0.1:5432/verity", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "verity.example.org",
}


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_a_database_url():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DATABASE_URL"}
    result = _manage("check", env=env)
    assert result.returncode != 0 and "DATABASE_URL must be set" in result.stderr


def test_check_deploy_is_clean_in_production_mode():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_malformed_boolean_is_refused_rather_than_guessed():
    result = _manage("check", env={"DEBUG": "maybe"})
    assert result.returncode != 0 and "DEBUG must be true or false" in result.stderr


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_services(compose):
    assert set(compose["services"]) == {"postgres", "redis", "web", "worker-inference", "worker-training", "beat"}
    for name, service in compose["services"].items():
        assert "healthcheck" in service, f"{name} has no health check"


def test_compose_services_share_one_configuration_from_the_environment(compose):
    for name in ("web", "worker-inference", "worker-training"):
        env = compose["services"][name]["environment"]
        for key in ("VERITY_ENV", "SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT"):
            assert key in env, f"{name} lacks {key}"
        assert env["VERITY_ENV"] == "production"
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:")
        assert "@postgres:5432/" in env["DATABASE_URL"]
        assert compose["services"][name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_inference_worker_reserves_a_gpu(compose):
    devices = compose["services"]["worker-inference"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"] and devices[0]["driver"] == "nvidia"


def test_compose_commands_exist_in_the_entrypoint_and_match_the_queues(compose):
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    for name in ("web", "worker-inference", "worker-training", "beat"):
        command = compose["services"][name]["command"][0]
        assert f"\n  {command})" in entrypoint, f"entrypoint has no '{command}' case"
    queues = {route["queue"] for route in CELERY_TASK_ROUTES.values()}
    assert queues == {"inference", "training"}
    assert "-Q inference " in entrypoint and "-Q training " in entrypoint
