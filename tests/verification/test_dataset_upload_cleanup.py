"""A failed dataset upload leaves nothing of its own behind, and removes nothing else (issue 16):
a scan that unpacked a zip and then found it unusable removes what it unpacked (the stored zip
stays for a rescan); a failed rescan of a ready dataset keeps its files; a registration that fails
removes only the files it wrote itself."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.dataset_scans import scanned
from tests.dataset_zips import as_upload, split_layout, zip_bytes
from verification import services
from verification.errors import VerityError
from verification.models import Dataset, ScanStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dataset_dir", "no_dataset_scans")]


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def test_a_scan_that_finds_an_uploaded_zip_unusable_removes_what_it_unpacked_and_only_that(
        crew, dataset_dir, django_capture_on_commit_callbacks):
    good = services.dataset_register_archive(actor=crew["admin"], name="good",
                                             archive=as_upload(zip_bytes(split_layout())))
    with django_capture_on_commit_callbacks(execute=True):
        good = scanned(good)
    assert good.status == ScanStatus.READY
    kept = _files(dataset_dir)
    # A zip the request accepts (a safe zip of one file) that holds no image: the scan unpacks it, then fails.
    bad = services.dataset_register_archive(actor=crew["admin"], name="bad",
                                            archive=as_upload(zip_bytes({"notes/readme.txt": b"no images"})))
    with django_capture_on_commit_callbacks(execute=True):
        bad = scanned(bad)
    assert bad.status == ScanStatus.FAILED and "No labelled images" in bad.scan_error
    assert not Path(bad.path).exists() and Path(bad.archive).is_file()
    assert _files(dataset_dir) == kept | {Path(bad.archive).name}
    # The zip it kept is unpacked again by a rescan (and cleaned again when that fails too).
    services.dataset_rescan(actor=crew["admin"], dataset=bad)
    with django_capture_on_commit_callbacks(execute=True):
        assert scanned(bad).status == ScanStatus.FAILED
    assert not Path(bad.path).exists() and _files(dataset_dir) == kept | {Path(bad.archive).name}


def test_a_failed_rescan_of_a_ready_uploaded_dataset_keeps_its_files(crew, dataset_dir, monkeypatch,
                                                                     django_capture_on_commit_callbacks):
    dataset = services.dataset_register_archive(actor=crew["admin"], name="good",
                                                archive=as_upload(zip_bytes(split_layout())))
    with django_capture_on_commit_callbacks(execute=True):
        dataset = scanned(dataset)
    kept = _files(dataset_dir)
    assert dataset.status == ScanStatus.READY and Path(dataset.path).is_dir() and kept

    def unreadable(*args: object, **kwargs: object) -> None:
        raise VerityError("The disk went away.")

    monkeypatch.setattr("verification.services.dataset_scans.analyse", unreadable)
    services.dataset_rescan(actor=crew["admin"], dataset=dataset)
    with django_capture_on_commit_callbacks(execute=True):
        assert scanned(dataset).status == ScanStatus.FAILED
    assert _files(dataset_dir) == kept


def test_a_registration_that_fails_removes_only_the_files_it_wrote(crew, dataset_dir, monkeypatch,
                                                                   django_capture_on_commit_callbacks):
    # Two names that make the same folder name, and the same random part: the second upload meets
    # the first one's stored zip.
    same = uuid.UUID(int=7)
    monkeypatch.setattr("verification.services.datasets.uuid.uuid4", lambda: same)
    first = services.dataset_register_archive(actor=crew["admin"], name="news room",
                                              archive=as_upload(zip_bytes(split_layout())))
    kept = _files(dataset_dir)
    assert Path(first.archive).is_file()
    with pytest.raises(FileExistsError):
        services.dataset_register_archive(actor=crew["admin"], name="news-room",
                                          archive=as_upload(zip_bytes(split_layout())))
    assert _files(dataset_dir) == kept and Path(first.archive).is_file()
    assert list(Dataset.objects.values_list("name", flat=True)) == ["news room"]
