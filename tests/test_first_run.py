"""The first run never stalls: a busy port is reported before any slow step, and while the demo
model trains every page shows how far it got."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.urls import reverse

from tests.dataset_scans import scanned
from verification import first_run

ROOT = Path(__file__).resolve().parent.parent


def test_a_busy_port_is_reported_before_any_slow_step(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
        env.update({"VERITY_DATA_DIR": str(tmp_path / "var"), "VERITY_PORT": str(port)})
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "portal.launcher"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 2
    assert f"Port {port} on 127.0.0.1 is not available" in done.stderr and "VERITY_PORT=8001" in done.stderr
    assert time.monotonic() - started < 20
    assert not (tmp_path / "var" / "verity.sqlite3").exists()  # nothing migrated, nothing trained


def test_a_bad_port_value_is_explained() -> None:
    from portal.launcher import port_problem

    assert "must be a number" in port_problem("127.0.0.1", "eighty")


@pytest.fixture
def data_dir(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.DATA_DIR = tmp_path
    return tmp_path


def test_every_page_shows_the_training_progress(client, people, data_dir) -> None:
    first_run.write("training", epoch=2, epochs=8, step=30, total_steps=120, eta_s=95.0)
    login = client.get(reverse("login")).content.decode()
    assert "training the demo model" in login and "epoch 2 of 8, 25% done" in login
    client.force_login(people["owner"])
    page = client.get(reverse("verification:case_list")).content.decode()
    assert 'id="first-run" data-state="training"' in page and "about 95 s left" in page
    assert "No model is active" not in page  # the training banner says it already
    first_run.clear()
    assert 'id="first-run"' not in client.get(reverse("verification:case_list")).content.decode()


def test_a_failed_first_run_says_what_to_do(client, data_dir) -> None:
    first_run.write("failed", message="OSError: No space left on device")
    body = client.get(reverse("login")).content.decode()
    assert "could not be trained" in body and "No space left on device" in body


def test_a_status_file_that_is_not_json_is_ignored(data_dir) -> None:
    (data_dir / "first-run.json").write_text("{half")
    assert first_run.read() is None


def test_the_demo_dataset_is_listed_on_the_datasets_page(db, demo_dataset, django_user_model) -> None:
    from verification.management.commands.ensure_model import Command
    from verification.models import AuditEvent, Dataset

    admin = django_user_model.objects.create_superuser("admin", password="pw-admin-123!")
    folder = demo_dataset(pairs=4, seed=4)
    Command()._register_demo_dataset(folder)
    Command()._register_demo_dataset(folder)  # a second start lists it once
    dataset = scanned(Dataset.objects.get())  # by the training worker the launcher starts
    assert (dataset.name, dataset.path, dataset.analysis["total"]) == ("demo-generated", str(folder), 8)
    assert AuditEvent.objects.get(action="dataset.registered").actor == admin
