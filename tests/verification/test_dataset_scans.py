"""Registering a dataset answers at once; a task on the training queue reads the images (issue 16):
progress, ready and failed scans, rescans, training on ready datasets only, the sweeper, and
another team's admin who can neither see nor rescan a dataset."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tests.dataset_scans import scanned
from tests.dataset_zips import as_upload, split_layout, zip_bytes
from tests.images import png_bytes
from verification import services
from verification.models import AuditEvent, Dataset, Membership, Role, ScanStatus, TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords", "dataset_dir")]

# (file, label, split, source): 3 real and 4 AI-generated, in train/val/test, from two sources.
ROWS = [("r1.png", "real", "train", "agency"), ("r2.png", "real", "train", "agency"),
        ("r3.png", "real", "test", "archive"), ("f1.png", "fake", "train", "generator-x"),
        ("f2.png", "fake", "val", "generator-x"), ("f3.png", "fake", "test", "generator-x"),
        ("f4.png", "fake", "test", "archive")]


@pytest.fixture
def sent_scans(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """Ids of the datasets whose scan was sent to the training queue (not delivered)."""
    sent: list[int] = []

    def send(pk: int) -> bool:
        sent.append(pk)
        return True

    monkeypatch.setattr("verification.queue.enqueue_dataset_scan", send)
    return sent


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "newsroom"
    root.mkdir()
    with open(root / "MANIFEST.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "split", "source"])
        for i, (name, label, split, source) in enumerate(ROWS):
            (root / name).write_bytes(png_bytes((40, 32), seed=500 + i))
            writer.writerow([name, label, split, source])
    return root


@pytest.fixture
def rival(crew, django_user_model) -> Any:  # type: ignore[no-untyped-def]
    """An admin of the other team: an outsider to the admin's team's datasets."""
    user = django_user_model.objects.create_user("rival", password="pw-rival-123!")
    Membership.objects.create(user=user, team=crew["other_team"], role=Role.ADMIN)
    return user


def api_for(user: Any) -> APIClient:
    client = APIClient()
    secret = services.token_create(user=user, name=f"scan-{user.pk}", scopes=("read", "submit")).secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def no_reading(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """Fails any reading or decoding of a dataset's image, and records the attempt."""
    opened: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        opened.append(repr(args)[:80])
        raise AssertionError("an image was read inside the request")

    monkeypatch.setattr("ml.data.analysis.inspect_image", refuse)
    monkeypatch.setattr("ml.data.sources.Sample.read_bytes", refuse)
    monkeypatch.setattr("ml.data.sources.load_samples", refuse)
    return opened


# --- The request answers at once ------------------------------------------------------------------


def test_the_api_answers_202_with_a_location_and_reads_no_image(crew, folder, sent_scans, no_reading,
                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(crew["admin"]).post("/api/v1/datasets/", {"name": "newsroom", "path": str(folder)},
                                               format="json")
    assert response.status_code == 202, response.content
    dataset = Dataset.objects.get()
    assert response["Location"] == f"http://testserver/api/v1/datasets/{dataset.pk}/"
    body = response.json()
    assert body["status"] == "pending" and body["analysis"] == {} and body["scan"]["files_seen"] == 0
    assert body["team"] == crew["team"].pk and dataset.team == crew["team"]
    assert no_reading == [] and sent_scans == [dataset.pk]


def test_the_page_registers_a_path_or_a_zip_without_reading_or_unpacking(client, crew, folder, sent_scans, no_reading,
                                                                         dataset_dir,
                                                                         django_capture_on_commit_callbacks):
    client.force_login(crew["admin"])
    url = reverse("verification:datasets")
    with django_capture_on_commit_callbacks(execute=True):
        by_path = client.post(url, {"intake": "path", "name": "newsroom", "path": str(folder)})
        by_zip = client.post(url, {"intake": "archive", "name": "zipped",
                                   "archive": as_upload(zip_bytes(split_layout()))})
    assert by_path.status_code == by_zip.status_code == 302
    assert no_reading == [] and len(sent_scans) == 2
    zipped = Dataset.objects.get(name="zipped")
    # Only the zip itself is stored; nothing is unpacked until the scan.
    assert not Path(zipped.path).exists() and Path(zipped.archive).is_file()
    page = client.get(url).content.decode()
    assert "being read on the training queue" in page
    assert reverse("verification:dataset_status", args=[zipped.pk]) in page and "<progress" in page


# --- The scan -------------------------------------------------------------------------------------


def test_the_scan_reports_progress_and_reaches_ready_with_counts_by_class_split_and_source(crew, folder, monkeypatch):
    dataset = services.dataset_register(actor=crew["admin"], name="newsroom", path=str(folder))
    reports: list[tuple[int, int]] = []
    original = services.dataset_scans.dataset_scan_progress

    def spy(**kwargs: Any) -> bool:
        reports.append((kwargs["seen"], kwargs["total"]))
        return original(**kwargs)

    monkeypatch.setattr(services.dataset_scans, "dataset_scan_progress", spy)
    dataset = scanned(dataset)
    assert reports and reports[0] == (0, 7) and all(total == 7 for _, total in reports)
    assert dataset.status == "ready" and dataset.files_seen == dataset.files_total == 7
    a = dataset.analysis
    assert a["total"] == 7 and a["by_class"] == {"real": 3, "ai_generated": 4}
    assert a["by_split"] == {"train": 3, "val": 1, "test": 3}
    assert a["by_source"] == {"agency": 2, "archive": 2, "generator-x": 3}
    assert len(dataset.fingerprint) == 64 and dataset.scan_attempts == 1
    event = AuditEvent.objects.get(action="dataset.scan_ready", object_id=str(dataset.pk))
    assert event.details["total"] == 7 and event.details["fingerprint"] == dataset.fingerprint


def test_the_api_shows_a_scan_in_progress(crew, folder):
    dataset = services.dataset_register(actor=crew["admin"], name="newsroom", path=str(folder))
    assert services.dataset_scan_begin(dataset_id=dataset.pk, claimant="task-1") is not None
    services.dataset_scan_progress(dataset_id=dataset.pk, claimant="task-1", seen=3, total=7)
    body = api_for(crew["admin"]).get(f"/api/v1/datasets/{dataset.pk}/").json()
    assert body["status"] == "scanning" and body["scan"]["files_seen"] == 3 and body["scan"]["files_total"] == 7
    assert body["scan"]["progress"] == pytest.approx(3 / 7)


def test_a_failed_scan_shows_its_error_through_both_doors(client, crew, tmp_path):
    (tmp_path / "empty").mkdir()
    dataset = scanned(services.dataset_register(actor=crew["admin"], name="empty", path=str(tmp_path / "empty")))
    assert dataset.status == "failed" and "No labelled images found" in dataset.scan_error
    body = api_for(crew["admin"]).get(f"/api/v1/datasets/{dataset.pk}/").json()
    assert body["status"] == "failed" and body["scan"]["error"] == dataset.scan_error
    client.force_login(crew["admin"])
    page = client.get(reverse("verification:datasets")).content.decode()
    assert "No labelled images found" in page and "Scan failed" in page
    status = client.get(reverse("verification:dataset_status", args=[dataset.pk])).json()
    assert status["status"] == "failed" and status["finished"] is True and "No labelled images" in status["error"]


# --- Rescan and idempotency -----------------------------------------------------------------------


def test_a_rescan_is_refused_while_scanning_and_replaces_the_counts_once_finished(client, crew, folder, sent_scans,
                                                                                   django_capture_on_commit_callbacks):
    dataset = services.dataset_register(actor=crew["admin"], name="newsroom", path=str(folder))
    api = api_for(crew["admin"])
    for claimed in (False, True):  # pending, then scanning
        if claimed:
            services.dataset_scan_begin(dataset_id=dataset.pk, claimant="task-1")
        refused = api.post(f"/api/v1/datasets/{dataset.pk}/rescan/")
        assert refused.status_code == 409 and "already being scanned" in refused.json()["error"]["message"]
    client.force_login(crew["admin"])
    page = client.post(reverse("verification:dataset_rescan", args=[dataset.pk]), follow=True)
    assert "already being scanned" in page.content.decode()
    services.dataset_scan_fail(dataset_id=dataset.pk, claimant="task-1", reason="disk gone")
    with django_capture_on_commit_callbacks(execute=True):
        again = api.post(f"/api/v1/datasets/{dataset.pk}/rescan/")
    assert again.status_code == 202 and again.json()["status"] == "pending" and sent_scans[-1] == dataset.pk
    ready = scanned(dataset)
    assert ready.status == "ready" and ready.analysis["total"] == 7 and ready.scan_error == ""
    # Rescanning a ready dataset, and the same scan message delivered twice, count every file once.
    api.post(f"/api/v1/datasets/{dataset.pk}/rescan/")
    twice = scanned(scanned(dataset, claimant="task-2"), claimant="task-3")
    assert twice.analysis == ready.analysis and twice.files_seen == twice.files_total == 7
    assert twice.fingerprint == ready.fingerprint
    assert AuditEvent.objects.filter(action="dataset.scan_ready", object_id=str(dataset.pk)).count() == 2


# --- Training refuses a dataset that is not ready -------------------------------------------------


def test_training_refuses_a_dataset_that_is_not_ready_through_both_doors(client, crew, folder, tmp_path, sent_runs):
    pending = services.dataset_register(actor=crew["admin"], name="newsroom", path=str(folder))
    (tmp_path / "empty").mkdir()
    failed = scanned(services.dataset_register(actor=crew["admin"], name="empty", path=str(tmp_path / "empty")))
    api = api_for(crew["admin"])
    response = api.post("/api/v1/training-runs/", {"dataset": pending.pk}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "dataset_not_ready"
    assert "still being scanned" in response.json()["error"]["message"]
    response = api.post("/api/v1/training-runs/", {"dataset": failed.pk}, format="json")
    assert response.status_code == 409 and "its scan failed" in response.json()["error"]["message"]
    client.force_login(crew["admin"])
    page = client.post(reverse("verification:training_runs"), {
        "dataset": pending.pk, "epochs": 1, "batch_size": 2, "lr": 0.001, "input_size": 64, "train_crop": 32,
        "seed": 0})
    assert page.status_code == 400 and "still being scanned" in page.content.decode()
    assert not TrainingRun.objects.exists() and sent_runs == []
    ready = scanned(pending)
    assert api.post("/api/v1/training-runs/", {"dataset": ready.pk}, format="json").status_code == 201


# --- Another team's admin -------------------------------------------------------------------------


def test_another_teams_admin_can_neither_see_nor_rescan_a_dataset(client, crew, folder, rival, sent_scans):
    dataset = scanned(services.dataset_register(actor=crew["admin"], name="newsroom", path=str(folder)))
    api = api_for(rival)
    assert api.get(f"/api/v1/datasets/{dataset.pk}/").status_code == 404
    assert api.get("/api/v1/datasets/").json()["results"] == []
    assert api.post(f"/api/v1/datasets/{dataset.pk}/rescan/").status_code == 404
    refused = api.post("/api/v1/training-runs/", {"dataset": dataset.pk}, format="json")
    assert refused.status_code == 400 and "dataset" in refused.json()["error"]["details"]
    client.force_login(rival)
    assert "newsroom" not in client.get(reverse("verification:datasets")).content.decode()
    assert "newsroom" not in client.get(reverse("verification:dashboard_datasets")).content.decode()
    assert client.get(reverse("verification:dataset_status", args=[dataset.pk])).status_code == 404
    assert client.post(reverse("verification:dataset_rescan", args=[dataset.pk])).status_code == 404
    with pytest.raises(services.NotAllowed):
        services.dataset_rescan(actor=rival, dataset=dataset)
    assert Dataset.objects.get(pk=dataset.pk).status == ScanStatus.READY and sent_scans == []
    # Its own team's admin sees it, and its lead on the Datasets dashboard.
    assert api_for(crew["admin"]).get(f"/api/v1/datasets/{dataset.pk}/").status_code == 200
    client.force_login(crew["lead"])
    assert "newsroom" in client.get(reverse("verification:dashboard_datasets")).content.decode()


# --- A worker that dies loses no scan -------------------------------------------------------------


def test_a_scan_whose_worker_died_is_sent_again_and_its_old_claim_records_nothing(crew, folder, sent_scans, settings,
                                                                                  django_capture_on_commit_callbacks):
    dataset = services.dataset_register(actor=crew["admin"], name="newsroom", path=str(folder))
    claimed = services.dataset_scan_begin(dataset_id=dataset.pk, claimant="dead-task")
    assert claimed is not None and services.dataset_scan_begin(dataset_id=dataset.pk, claimant="dup") is None
    assert services.dataset_scans_stuck(queued_for_s=120) == []  # it beats: alive
    Dataset.objects.filter(pk=dataset.pk).update(
        scan_beat_at=timezone.now() - timedelta(seconds=settings.VERITY_CLAIM_DEAD_AFTER_S + 1))
    assert services.dataset_scans_stuck(queued_for_s=120) == [dataset.pk]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.dataset_scan_requeue(dataset_id=dataset.pk, reason="test") is True
    assert Dataset.objects.get(pk=dataset.pk).status == "pending" and sent_scans == [dataset.pk]
    ready = scanned(dataset, claimant="new-task")
    assert ready.status == "ready" and ready.scan_attempts == 2
    # The dead task, were it to wake up, records nothing over the new outcome.
    assert services.dataset_scan_finish(dataset_id=dataset.pk, claimant="dead-task", root=folder,
                                        analysis={"total": 999}, digest="x") is None
    assert Dataset.objects.get(pk=dataset.pk).analysis["total"] == 7


def test_a_scan_that_kills_its_worker_every_time_fails_after_the_attempts(crew, folder, settings, sent_scans):
    settings.VERITY_TRAINING_MAX_ATTEMPTS = 2
    dataset = services.dataset_register(actor=crew["admin"], name="newsroom", path=str(folder))
    stale = timezone.now() - timedelta(seconds=settings.VERITY_CLAIM_DEAD_AFTER_S + 1)
    for attempt in ("one", "two"):
        services.dataset_scan_begin(dataset_id=dataset.pk, claimant=attempt)  # a redelivery takes back the first
        Dataset.objects.filter(pk=dataset.pk).update(scan_beat_at=stale)
    services.dataset_scan_requeue(dataset_id=dataset.pk, reason="test")
    failed = Dataset.objects.get(pk=dataset.pk)
    assert failed.status == "failed" and "stopped reporting after 2 attempt(s)" in failed.scan_error
