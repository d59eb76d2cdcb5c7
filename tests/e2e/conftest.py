"""Browser tests: headless Chromium (Debian's /usr/bin/chromium, never a downloaded one) against
pytest-django's live server, with a real Celery worker process doing the analyses.

The worker fixture here is self-contained so that the lead's shared worker fixture can replace it
later: it needs only the test database's file, MEDIA_ROOT, VERITY_DATA_DIR and the broker URL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API keeps an asyncio loop running in this thread, which makes Django refuse ORM
# calls from the test ("async context"). The test itself is synchronous, so that guard does not apply.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("VERITY_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts" / "e2e"


@pytest.fixture(scope="session", autouse=True)
def _live_server_media_url() -> Iterator[None]:
    """Django's live server wraps the site in a media-file handler that parses MEDIA_URL, which
    Verity leaves as None on purpose (media only through permission-checked views). Give it a
    path nothing links to, before the session's live server starts."""
    from django.conf import settings

    previous = settings.MEDIA_URL
    settings.MEDIA_URL = "/__no-public-media__/"
    yield
    settings.MEDIA_URL = previous


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Any:
    """shot(page, "name"): a full-page screenshot kept under test-artifacts/e2e/<test>/ (gitignored)."""
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 100))

    def take(page: Any, name: str) -> Path:
        path = folder / f"{next(counter):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Extra environment for the worker process; a test module overrides this fixture."""
    return {}


@pytest.fixture
def celery_worker_process(transactional_db: None, settings: Any, tmp_path: Path,
                          worker_env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A real worker (`celery -A portal worker`) on the test database (SQLite or PostgreSQL), consuming
    both queues from the test's broker (the filesystem one or Redis)."""
    from tests.worker_process import test_database_url

    data_dir = Path(settings.DATA_DIR)
    broker_url = settings.CELERY_BROKER_URL
    if broker_url.startswith("filesystem://"):
        # Messages left by an earlier, interrupted run would otherwise be consumed first.
        for sub in ("queue", "processed"):
            folder = data_dir / "broker" / sub
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
    else:  # Redis: the same, for the queues this worker reads
        from portal.celery import app

        app.control.purge()
    # The test database as the worker must reach it: SQLite's file or PostgreSQL's test_ database.
    env = {**os.environ, "DATABASE_URL": test_database_url(), "MEDIA_ROOT": str(settings.MEDIA_ROOT),
           "VERITY_DATA_DIR": str(data_dir), "CELERY_BROKER_URL": broker_url, "VERITY_DEVICE": "cpu",
           "VERITY_TORCH_THREADS": "1", "DJANGO_SETTINGS_MODULE": "portal.settings", **worker_env}
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "inference,training",
                             "--concurrency", "1", "--pool", "solo", "--loglevel", "INFO"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    if proc.poll() is not None:
        pytest.fail(f"the worker exited at once; see {tmp_path / 'worker.log'}")
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "worker.log", ARTIFACTS / "worker.log")


@pytest.fixture
def lead(transactional_db, django_user_model):  # type: ignore[no-untyped-def]
    """A lead of the "Metro desk" team, the person the browser flows log in as."""
    from verification.models import Membership, Role, Team

    team = Team.objects.create(name="Metro desk")
    user = django_user_model.objects.create_user("lena", password="pw-lena-12345!")
    Membership.objects.create(user=user, team=team, role=Role.LEAD)
    return user
