"""PDQ hashing, the multi-index keys and the re-share transforms (issue 14)."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from ml import phash, reshare
from ml.errors import MLError
from tests.archive_images import jpeg, scene


def test_the_dihedral_variants_are_named_after_the_pil_transposes_that_make_them():
    im = scene(11)
    variants = phash.pdq_dihedral(im)
    for name in phash.DIHEDRAL[1:]:
        op = getattr(Image.Transpose, name.upper())
        turned = phash.pdq(im.transpose(op)).value
        nearest = min(variants, key=lambda n: phash.hamming(variants[n].value, turned))
        assert nearest == name


def test_a_hash_within_the_threshold_always_shares_a_probe_key():
    # The pigeonhole guarantee the index rests on, checked on the worst case: exactly 31 bits differ.
    rng = random.Random(0)
    for _ in range(300):
        a = rng.getrandbits(256)
        b = a
        for bit in rng.sample(range(256), phash.MAX_DISTANCE):
            b ^= 1 << bit
        va, vb = a.to_bytes(32, "big"), b.to_bytes(32, "big")
        assert phash.hamming(va, vb) == phash.MAX_DISTANCE
        probes = phash.probe_chunks([va])
        assert any(c in probes[pos] for pos, c in enumerate(phash.chunks(vb)))


def test_at_32_bits_spread_evenly_no_chunk_is_within_the_probe_radius():
    # Two bits in every chunk: the pigeonhole bound is tight, so 32 bits can escape every probe.
    a = random.Random(1).getrandbits(256)
    b = a
    for pos in range(phash.CHUNKS):
        b ^= 0b11 << (pos * phash.CHUNK_BITS)
    probes = phash.probe_chunks([a.to_bytes(32, "big")])
    assert not any(c in probes[pos] for pos, c in enumerate(phash.chunks(b.to_bytes(32, "big"))))


def test_probe_chunks_are_the_chunks_and_their_one_bit_neighbours():
    value = bytes(range(32))
    probes = phash.probe_chunks([value])
    assert [len(p) for p in probes] == [1 + phash.CHUNK_BITS] * phash.CHUNKS
    assert all(c in probes[pos] for pos, c in enumerate(phash.chunks(value)))


@pytest.mark.parametrize("max_distance", [15, 31, 47])
def test_probe_pairs_are_each_hashs_probe_chunks_with_its_number(max_distance):
    # The lookup's vectorised probes (all hashes of a case at once) against the one-hash rule.
    rng = random.Random(max_distance)
    values = [rng.getrandbits(256).to_bytes(32, "big") for _ in range(5)]
    probes, numbers = phash.probe_pairs(values, max_distance=max_distance)
    assert probes.shape == numbers.shape and probes.shape[0] == phash.CHUNKS
    for pos in range(phash.CHUNKS):
        got = sorted(zip(probes[pos].tolist(), numbers[pos].tolist()))
        want = sorted((c, n) for n, v in enumerate(values)
                      for c in phash.probe_chunks([v], max_distance=max_distance)[pos])
        assert got == want
    with pytest.raises(MLError):
        phash.probe_pairs([b"short"])


def test_distances_agree_with_hamming():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 256, (3, 32), dtype=np.uint8), rng.integers(0, 256, (4, 32), dtype=np.uint8)
    d = phash.distances(a, b)
    assert d.shape == (3, 4)
    assert d[2, 1] == phash.hamming(a[2].tobytes(), b[1].tobytes())


def test_a_flat_image_has_a_quality_below_the_threshold():
    assert not phash.pdq(Image.new("RGB", (200, 200), (90, 90, 90))).usable
    assert phash.pdq(scene(1)).usable


def test_screenshot_bars_are_trimmed_before_hashing():
    shot = Image.open(io.BytesIO(reshare.screenshot(jpeg(scene(4)))))
    trimmed = phash.trim_uniform_borders(shot)
    assert trimmed.height < shot.height
    assert min(phash.hamming(q.value, phash.archive_hashes(scene(4))[0].value)
               for q in phash.query_hashes(shot)) <= phash.MAX_DISTANCE


@pytest.mark.parametrize("make", [
    lambda: scene(5),
    lambda: Image.open(io.BytesIO(reshare.screenshot(jpeg(scene(6))))),  # bars trimmed first
    lambda: scene(7, (1500, 700)).convert("L"),  # reduced to HASH_INPUT_SIDE, not RGB
], ids=["plain", "screenshot", "large-grey"])
def test_fingerprints_are_the_archive_and_query_hashes_bit_for_bit(make):
    # Intake computes both at once (one reduction, one trim, the uncropped stored hash reused
    # from the dihedral original); the archive must hold exactly what the two functions give.
    im = make()
    stored, queries = phash.fingerprints(im)
    assert stored == phash.archive_hashes(im)
    assert queries == phash.query_hashes(im)
    assert len(stored) == len(phash.STORED_CROPS) and len(queries) == len(phash.DIHEDRAL)


@pytest.mark.parametrize("transform", reshare.matching_set(), ids=lambda t: t.name)
def test_every_reshare_makes_a_readable_image(transform):
    out = transform.fn(jpeg(scene(2)))
    with Image.open(io.BytesIO(out)) as im:
        im.load()
        assert im.width > 0 and im.height > 0


def test_stripping_metadata_keeps_the_pixels_and_drops_the_exif():
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    buf = io.BytesIO()
    scene(3).save(buf, "JPEG", quality=90, exif=exif.tobytes())
    stripped = reshare.strip_metadata(buf.getvalue())
    before, after = Image.open(buf), Image.open(io.BytesIO(stripped))
    assert b"Canon" in buf.getvalue() and b"Canon" not in stripped and not after.getexif()
    assert np.array_equal(np.asarray(before.convert("RGB")), np.asarray(after.convert("RGB")))


def test_the_stability_set_has_eight_reshares():
    assert [t.name for t in reshare.stability_set()] == list(reshare.STABILITY_NAMES) and len(
        reshare.STABILITY_NAMES) == 8
