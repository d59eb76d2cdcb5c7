"""Tar shards, dataset analysis and duplicate-aware splits, on data the tests build."""

import csv
import hashlib
import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from ml.data import load_samples
from ml.data.analysis import analyse_samples, write_analysis
from ml.data.shards import close_all, shard_reader, write_shards
from ml.errors import MLError
from ml.splits import assign_splits, make_splits, write_split_manifest
from tests.images import jpeg_bytes, png_bytes

MANIFEST_HEADER = ["relpath", "label", "split", "source", "generator", "width", "height", "sha256"]


def _make_source(folder: Path, files: list[tuple[str, str, str, bytes]], per_shard: int) -> None:
    """A source as in shared/data: MANIFEST.csv plus images-NNN.tar shards of the raw bytes."""
    write_shards([(rel, data) for rel, _, _, data in files], folder, per_shard=per_shard)
    with (folder / "MANIFEST.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(MANIFEST_HEADER)
        for rel, label, split, data in files:
            w.writerow([rel, label, split, folder.name, "gen-x" if label == "ai_generated" else "",
                        0, 0, hashlib.sha256(data).hexdigest()])


@pytest.fixture(autouse=True)
def _fresh_shard_cache():
    close_all()
    yield
    close_all()


def test_samples_in_tar_shards_read_back_the_original_bytes(tmp_path):
    files = [(f"img/{i:02d}.{'png' if i % 2 else 'jpg'}", "real" if i < 5 else "ai_generated",
              "train" if i < 7 else "test", png_bytes((20 + i, 16), seed=i) if i % 2 else jpeg_bytes((24, 18), seed=i))
             for i in range(10)]
    _make_source(tmp_path / "srcA", files, per_shard=4)
    assert len(list((tmp_path / "srcA").glob("images-*.tar"))) == 3

    samples = load_samples(tmp_path / "srcA")
    by_member = {s.member: s for s in samples}
    assert sorted(by_member) == sorted(rel for rel, *_ in files)
    for rel, label, split, data in files:
        s = by_member[rel]
        assert s.read_bytes() == data
        assert (s.label, s.split, s.source) == (label, split, "srcA")
        assert s.path.name.startswith("images-")


def test_each_shard_is_opened_once_however_many_members_are_read(tmp_path):
    files = [(f"{i}.png", "real", "train", png_bytes((12, 12), seed=i)) for i in range(9)]
    _make_source(tmp_path / "s", files, per_shard=3)
    samples = load_samples(tmp_path / "s")
    for _ in range(2):
        for s in samples:
            s.read_bytes()
    shards = sorted({s.path for s in samples})
    assert len(shards) == 3
    assert [shard_reader(p).opens for p in shards] == [1, 1, 1]


def test_a_folder_of_sources_reads_every_source(tmp_path):
    _make_source(tmp_path / "one", [("a.png", "real", "train", png_bytes(seed=1))], per_shard=10)
    _make_source(tmp_path / "two", [("a.png", "fake", "test", png_bytes(seed=2))], per_shard=10)
    samples = load_samples(tmp_path)
    assert sorted((s.source, s.label) for s in samples) == [("one", "real"), ("two", "ai_generated")]


def test_a_manifest_row_missing_from_the_shards_is_reported(tmp_path):
    _make_source(tmp_path / "s", [("a.png", "real", "train", png_bytes())], per_shard=10)
    with (tmp_path / "s" / "MANIFEST.csv").open("a", newline="") as f:
        csv.writer(f).writerow(["gone.png", "real", "train", "s", "", 0, 0, ""])
    with pytest.raises(MLError, match="1 listed image.*gone.png"):
        load_samples(tmp_path / "s")


def _folder_dataset(root: Path) -> dict[str, bytes]:
    """train: 3 REAL + 2 FAKE, test: 1 REAL + 2 FAKE, where one test FAKE is a byte copy of a
    train REAL (cross-split duplicate with conflicting labels), plus one undecodable file."""
    layout = {
        "train/REAL/r1.png": png_bytes((40, 30), seed=1),
        "train/REAL/r2.png": png_bytes((40, 30), seed=2),
        "train/REAL/r3.jpg": jpeg_bytes((64, 48), seed=3),
        "train/FAKE/f1.png": png_bytes((40, 30), seed=4),
        "train/FAKE/broken.png": b"\x89PNG\r\n\x1a\n not really",
        "test/REAL/r4.png": png_bytes((40, 30), seed=5),
        "test/FAKE/f2.png": png_bytes((32, 32), seed=6),
    }
    layout["test/FAKE/copy_of_r1.png"] = layout["train/REAL/r1.png"]
    for rel, data in layout.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return layout


def test_analysis_counts_classes_formats_sizes_duplicates_and_broken_files(tmp_path):
    _folder_dataset(tmp_path / "data")
    report = analyse_samples(load_samples(tmp_path / "data"))
    assert report["n_samples"] == 8 and report["n_decoded"] == 7
    assert report["counts"]["class"] == {"ai_generated": 4, "real": 4}
    assert report["counts"]["split"] == {"test": 3, "train": 5}
    assert report["counts"]["split_class"]["train"] == {"ai_generated": 2, "real": 3}
    assert report["formats"] == {"JPEG": 1, "PNG": 6}
    assert report["sizes"]["common"][0] == [40, 30, 5]  # r1, r2, f1, r4 and the copy of r1
    assert (report["sizes"]["width"]["min"], report["sizes"]["width"]["max"]) == (32, 64)
    assert report["duplicates"]["groups"] == 1 and report["duplicates"]["extra_copies"] == 1
    group = report["cross_split_duplicates"]["examples"][0]
    assert group["splits"] == ["test", "train"] and len(group["refs"]) == 2
    assert report["label_conflicts"]["groups"] == 1
    assert report["undecodable"]["count"] == 1
    assert report["undecodable"]["files"][0]["ref"].endswith("broken.png")

    paths = write_analysis(report, tmp_path / "out")
    assert json.loads(paths["json"].read_text())["counts"]["class"]["real"] == 4
    for key in ("class_balance", "image_sizes"):
        with Image.open(paths[key]) as im:
            assert im.format == "PNG" and im.width > 100


def test_analysis_flags_a_manifest_hash_that_does_not_match_the_bytes(tmp_path):
    _make_source(tmp_path / "s", [("a.png", "real", "train", png_bytes(seed=1))], per_shard=10)
    rows = list(csv.reader((tmp_path / "s" / "MANIFEST.csv").open()))
    rows[1][-1] = "0" * 64
    with (tmp_path / "s" / "MANIFEST.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    report = analyse_samples(load_samples(tmp_path / "s"))
    assert report["sha256_mismatches"] == [f"{tmp_path / 's' / 'images-000.tar'}::a.png"]


def _unsplit_dataset(root: Path) -> None:
    """60 real + 40 fake over two sources, with 10 images copied three times each."""
    n = 0
    for label, folder, count in (("real", "REAL", 60), ("ai_generated", "FAKE", 40)):
        for i in range(count):
            data = png_bytes((10, 10), seed=n % 90)  # seeds 90..99 repeat seeds 0..9: duplicates
            n += 1
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder / f"{i:03d}.png").write_bytes(data)


def test_splits_are_seeded_stratified_and_never_split_duplicates(tmp_path):
    _unsplit_dataset(tmp_path / "d")
    samples = load_samples(tmp_path / "d")
    a = make_splits(samples, seed=7)
    assert a == make_splits(samples, seed=7)
    assert [s.split for s in a] != [s.split for s in make_splits(samples, seed=8)]

    splits_by_hash = defaultdict(set)
    for s in a:
        splits_by_hash[s.sha256].add(s.split)
    assert any(len([x for x in a if x.sha256 == h]) > 1 for h in splits_by_hash)
    assert all(len(v) == 1 for v in splits_by_hash.values())

    for label, total in (("real", 60), ("ai_generated", 40)):
        n_train = sum(s.split == "train" and s.label == label for s in a)
        # Duplicate groups (at most 2 copies here) can push a stratum one unit past its share.
        assert abs(n_train - 0.7 * total) <= 2, (label, n_train)
        assert sum(s.split == "test" and s.label == label for s in a) >= 0.1 * total


def test_a_saved_split_manifest_reads_back_identically(tmp_path):
    _unsplit_dataset(tmp_path / "d")
    split = make_splits(load_samples(tmp_path / "d"), seed=1)
    manifest = write_split_manifest(split, tmp_path / "elsewhere" / "split.csv")
    again = load_samples(manifest)
    assert [(s.path.resolve(), s.label, s.split, s.sha256) for s in again] == \
        [(s.path.resolve(), s.label, s.split, s.sha256) for s in split]


def test_a_split_manifest_of_a_sharded_source_points_into_the_shards(tmp_path):
    files = [(f"{i}.png", "real" if i % 2 else "fake", "", png_bytes((12, 12), seed=i)) for i in range(8)]
    _make_source(tmp_path / "src", files, per_shard=5)
    split = make_splits(load_samples(tmp_path / "src"), seed=0)
    again = load_samples(write_split_manifest(split, tmp_path / "split.csv"))
    assert {s.member: s.read_bytes() for s in again} == {rel: data for rel, _, _, data in files}
    assert [s.split for s in again] == [s.split for s in split]


def test_given_splits_are_kept_and_duplicates_follow_them(tmp_path):
    _folder_dataset(tmp_path / "data")
    (tmp_path / "data" / "train" / "FAKE" / "broken.png").unlink()
    (tmp_path / "data" / "extra" / "REAL").mkdir(parents=True)
    samples = load_samples(tmp_path / "data")
    # An unsplit copy of a test image must join test, whatever the seed would have drawn.
    original = next(s for s in samples if s.path.name == "r4.png")
    assert original.split == "test"
    copy = replace(original, path=tmp_path / "data" / "extra" / "REAL" / "c.png", split="")
    copy.path.write_bytes(original.read_bytes())
    for seed in range(5):
        out = assign_splits(samples + [copy], seed=seed)
        assert {s.path: s.split for s in out}[copy.path] == "test"
        # Splits the data gave are kept, except that a copy the data put in a later split than
        # its twin joins the twin's split (the test copy of train/REAL/r1.png goes to train).
        moved = {s.path.name for s in out if s.path != copy.path} - {
            s.path.name for s, o in zip(samples, (x for x in out if x.path != copy.path)) if s.split == o.split}
        assert moved == {"copy_of_r1.png"}
        assert {s.path.name: s.split for s in out}["copy_of_r1.png"] == "train"
