"""Start a real Celery worker process against the test database, media folder and broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """A DATABASE_URL for the database the tests are using right now (the test database)."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    user = quote(s.get("USER") or "")
    password = f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{s.get('HOST') or 'localhost'}{port}/{s['NAME']}"


@contextmanager
def celery_worker(log_path: Path, *, queues: str = "inference,training", pool: str = "prefork", concurrency: int = 1,
                  extra_env: dict[str, str] | None = None, beat: bool = False) -> Iterator[subprocess.Popen]:
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "VERITY_DATA_DIR": str(settings.DATA_DIR),
        # A scan in the worker reads datasets only under the roots the test process allows.
        "VERITY_DATASET_ROOTS": ",".join(str(p) for p in settings.VERITY_DATASET_ROOTS),
        "VERITY_DATASET_DIR": str(settings.VERITY_DATASET_DIR),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", queues, "--concurrency", str(concurrency),
         "--pool", pool, "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
         *(["--beat", "--schedule", str(log_path.with_suffix(".beat"))] if beat else [])],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def wait_for(predicate, *, timeout: float, interval: float = 0.5, proc: subprocess.Popen | None = None,
             log_path: Path | None = None):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns a truthy value; fail with the worker's log if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(interval)
    log = log_path.read_text()[-4000:] if log_path and log_path.exists() else ""
    raise AssertionError(f"condition not met within {timeout}s; worker log tail:\n{log}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def private_redis(port: int) -> Iterator[subprocess.Popen]:
    """A throwaway redis-server on ``port`` that a test may stop and start at will."""
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        wait_for(lambda: _pings(client), timeout=10)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _pings(client) -> bool:  # type: ignore[no-untyped-def]
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        return False


@contextmanager
def publishing_to(broker_url: str) -> Iterator[None]:
    """Point this (test) process's Celery producer at another broker for the duration."""
    from celery import current_app

    old = current_app.conf.broker_url
    def reset() -> None:
        from kombu import pools

        # Drop every cached connection and producer pool (kombu keeps a process-wide registry),
        # so the next publish connects afresh to whatever broker_url says then.
        pools.reset()
        current_app._pool = None
        current_app.amqp._producer_pool = None
    reset()
    current_app.conf.broker_url = broker_url
    try:
        yield
    finally:
        reset()
        current_app.conf.broker_url = old
