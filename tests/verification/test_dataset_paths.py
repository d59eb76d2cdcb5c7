"""A dataset registered by path must lie under the configured dataset folders, and the refusal
reads the same whether anything is at the path or not (issue 16, hole 6)."""

import csv
import os

import pytest
from django.urls import reverse

from tests.dataset_scans import scanned
from verification import services
from verification.errors import VerityError
from verification.models import Dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def roots(settings, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    settings.VERITY_DATASET_ROOTS = [allowed]
    settings.VERITY_DATASET_DIR = tmp_path / "owned"
    return allowed


def _refusal(crew, path):
    with pytest.raises(VerityError) as exc:
        services.dataset_register(actor=crew["admin"], name="probe", path=str(path))
    return exc.value.message


def test_a_path_outside_the_roots_is_refused_alike_whether_it_exists_or_not(crew, roots, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "id_rsa").write_text("key")
    existing, missing = _refusal(crew, secret), _refusal(crew, tmp_path / "no-such-folder")
    assert existing == missing.replace(str(tmp_path / "no-such-folder"), str(secret))
    assert str(secret) not in existing and "VERITY_DATASET_ROOTS" in existing
    assert _refusal(crew, "/root/.ssh") == existing
    assert not Dataset.objects.exists()


def test_dot_dot_and_symlinks_do_not_lead_out_of_a_root(crew, roots, tmp_path, demo_dataset):
    outside = demo_dataset(pairs=2, seed=3)
    os.symlink(outside, roots / "link")
    outside_message = _refusal(crew, tmp_path / "elsewhere")
    assert _refusal(crew, roots / "link") == outside_message
    assert _refusal(crew, f"{roots}/../../..{outside}") == outside_message


def test_a_manifest_inside_a_root_cannot_list_files_outside_it(crew, roots, demo_dataset):
    outside = demo_dataset(pairs=2, seed=3)
    image = next(p for p in outside.rglob("*.png"))
    with open(roots / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label"])
        writer.writerow([str(image), "real"])
    # Listing the manifest is the scan's work (a task): the scan fails with the same refusal, and no
    # file outside the roots is read.
    dataset = scanned(services.dataset_register(actor=crew["admin"], name="listed", path=str(roots / "manifest.csv")))
    assert dataset.status == "failed" and dataset.scan_error == _refusal(crew, "/etc")
    assert dataset.analysis == {} and dataset.fingerprint == ""


def test_a_dataset_under_a_root_is_registered(crew, roots, demo_dataset):
    import shutil

    shutil.copytree(demo_dataset(pairs=2, seed=3), roots / "demo")
    dataset = scanned(services.dataset_register(actor=crew["admin"], name="demo", path=str(roots / "demo")))
    assert dataset.status == "ready" and dataset.path == str(roots / "demo") and dataset.analysis["total"] == 4


def test_the_datasets_page_shows_the_same_refusal(client, crew, roots):
    client.force_login(crew["admin"])
    response = client.post(reverse("verification:datasets"), {"name": "probe", "path": "/root/.ssh"})
    body = response.content.decode()
    assert "Datasets can only be registered from under" in body and not Dataset.objects.exists()
