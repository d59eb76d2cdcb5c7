"""Perceptual hashes for the archive memory: PDQ (Meta's open photo hash, 256 bits) and the
Hamming arithmetic and index keys around it.

Why PDQ: it is the hash platforms exchange for exactly this job (the same picture re-shared,
resized, recompressed), it comes with a quality score that says when a hash means nothing (flat
or tiny images), and its reference implementation gives the eight dihedral variants (mirrored and
rotated copies) from one DCT, nearly for free. ``pdqhash`` wraps Meta's C++ code.

The index (``chunks`` / ``probe_chunks``) is multi-index hashing (Norouzi et al. 2012): the 256
bits are cut into ``CHUNKS`` chunks of ``CHUNK_BITS`` bits. If two hashes differ in at most
``MAX_DISTANCE`` bits, then by the pigeonhole principle at least one chunk differs in at most
``floor(MAX_DISTANCE / CHUNKS)`` bits, so probing every chunk value within that radius of the
query's chunk finds every true match. With 16 chunks of 16 bits and distance <= 31 the radius is
1: 16 x (1 + 16) = 272 exact chunk lookups per hash, each one an index probe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from .errors import MLError

HASH_BITS = 256
HASH_BYTES = HASH_BITS // 8
# Meta's reference matcher: distance <= 31 of 256 bits is a match; hashes of quality < 50 are noise.
MAX_DISTANCE = 31
MIN_QUALITY = 50
CHUNKS = 16
CHUNK_BITS = HASH_BITS // CHUNKS
PROBE_RADIUS = MAX_DISTANCE // CHUNKS  # pigeonhole: some chunk is within this many bits
# PDQ's own first step is a downsample to 64x64 through a box filter; hashing a copy whose long
# side is at most this costs ~20x less on a 12 MP photo and changes a hash by a few bits at most
# (measured in benchmarks/archive_matching.md, which uses this same path).
HASH_INPUT_SIDE = 1024
# The order of pdqhash.compute_dihedral's variants, named as PIL's Image.transpose operations that
# produce them (rotations counter-clockwise; checked in tests/ml/test_phash.py).
DIHEDRAL = ("original", "rotate_90", "rotate_180", "rotate_270", "flip_top_bottom", "flip_left_right",
            "transpose", "transverse")


@dataclass(frozen=True)
class PerceptualHash:
    value: bytes  # 32 bytes, most significant bit first
    quality: int  # 0..100; below MIN_QUALITY the hash is not trusted

    @property
    def hex(self) -> str:
        return self.value.hex()

    @property
    def usable(self) -> bool:
        return self.quality >= MIN_QUALITY


def _pdq() -> Any:
    try:
        import pdqhash  # type: ignore[import-untyped]  # ships no type information
    except ImportError as exc:  # pragma: no cover - the requirement is pinned
        raise MLError("The pdqhash package is missing: pip install -r requirements.txt") from exc
    return pdqhash


def _pixels(im: Image.Image) -> np.ndarray:
    im = im.convert("RGB")
    if max(im.size) > HASH_INPUT_SIDE:
        im = im.copy()
        im.thumbnail((HASH_INPUT_SIDE, HASH_INPUT_SIDE), Image.Resampling.BOX)
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def _pack(bits: np.ndarray) -> bytes:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()


def pdq(im: Image.Image) -> PerceptualHash:
    """The PDQ hash of an image."""
    bits, quality = _pdq().compute(_pixels(im))
    return PerceptualHash(_pack(bits), int(quality))


def pdq_dihedral(im: Image.Image) -> dict[str, PerceptualHash]:
    """The hashes of the image's eight dihedral variants (``DIHEDRAL`` names), original first.

    Matching a query's eight variants against stored originals finds mirrored and rotated copies."""
    hashes, quality = _pdq().compute_dihedral(_pixels(im))
    return {name: PerceptualHash(_pack(bits), int(quality)) for name, bits in zip(DIHEDRAL, hashes)}


# PDQ is a global hash: a crop moves every bit a little (5 % off each dimension is ~40 bits away,
# past the threshold). So the archive also keeps the hashes of centred crops of each image, and a
# cropped re-share meets the stored crop nearest to it (measured in benchmarks/archive_matching.md).
STORED_CROPS = (0.0, 0.04, 0.08, 0.12)
# A border row or column whose pixels all lie this close to its median is a bar, not picture.
_BAR_TOLERANCE = 10
_MAX_TRIM = 0.25


def trim_uniform_borders(im: Image.Image) -> Image.Image:
    """Cut plain bars (letterboxing, a screenshot's status and navigation bars) off every side,
    at most a quarter of each dimension per side, so that a screenshot hashes like its picture."""
    rgb = im.convert("RGB")
    a = np.asarray(rgb, dtype=np.int16)
    h, w = a.shape[:2]

    def uniform(line: np.ndarray) -> bool:
        return bool(np.abs(line - np.median(line, axis=0)).max() <= _BAR_TOLERANCE)

    top, bottom, left, right = 0, h, 0, w
    while top < h * _MAX_TRIM and uniform(a[top]):
        top += 1
    while bottom > h * (1 - _MAX_TRIM) and uniform(a[bottom - 1]):
        bottom -= 1
    while left < w * _MAX_TRIM and uniform(a[top:bottom, left]):
        left += 1
    while right > w * (1 - _MAX_TRIM) and uniform(a[top:bottom, right - 1]):
        right -= 1
    if (top, bottom, left, right) == (0, h, 0, w):
        return rgb
    return rgb.crop((left, top, right, bottom))


def center_crop(im: Image.Image, fraction: float) -> Image.Image:
    """``fraction`` of the width and of the height cut off, half on each side."""
    if fraction <= 0:
        return im
    dx, dy = round(im.width * fraction / 2), round(im.height * fraction / 2)
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def _thumb(im: Image.Image) -> Image.Image:
    im = im.convert("RGB")
    if max(im.size) > HASH_INPUT_SIDE:
        im = im.copy()
        im.thumbnail((HASH_INPUT_SIDE, HASH_INPUT_SIDE), Image.Resampling.BOX)
    return im


def archive_hashes(im: Image.Image) -> list[PerceptualHash]:
    """What the archive stores for an image: the PDQ hash of its picture (borders trimmed) and of
    its ``STORED_CROPS`` centred crops, first one first."""
    base = trim_uniform_borders(_thumb(im))
    return [pdq(center_crop(base, f)) for f in STORED_CROPS]


def query_hashes(im: Image.Image) -> list[PerceptualHash]:
    """What a new image is looked up with: the eight dihedral variants of its picture (borders
    trimmed), so mirrored and rotated copies of an archived image are found too."""
    return list(pdq_dihedral(trim_uniform_borders(_thumb(im))).values())


def fingerprints(im: Image.Image) -> tuple[list[PerceptualHash], list[PerceptualHash]]:
    """``(archive_hashes(im), query_hashes(im))``, equal to calling both, for a little over half
    the work: the picture is reduced and its borders trimmed once, and the uncropped stored hash
    is the dihedral original (PDQ of the same pixels). What intake runs for every upload."""
    base = trim_uniform_borders(_thumb(im))
    queries = list(pdq_dihedral(base).values())
    uncropped, *cropped = STORED_CROPS
    stored = [queries[0] if uncropped <= 0 else pdq(center_crop(base, uncropped))]
    return stored + [pdq(center_crop(base, f)) for f in cropped], queries


def hamming(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def _require_hash(value: bytes) -> None:
    if len(value) != HASH_BYTES:
        raise MLError(f"A PDQ hash has {HASH_BYTES} bytes, not {len(value)}.")


def chunks(value: bytes) -> list[int]:
    """The ``CHUNKS`` chunk values of a hash, in order."""
    _require_hash(value)
    step = CHUNK_BITS // 8
    return [int.from_bytes(value[i:i + step], "big") for i in range(0, HASH_BYTES, step)]


def probe_masks(radius: int) -> list[int]:
    """The XOR masks that turn a chunk value into every value within ``radius`` bits of it (0 first)."""
    out = [0]
    if radius >= 1:
        out += [1 << b for b in range(CHUNK_BITS)]
    if radius >= 2:
        out += [(1 << b) | (1 << d) for b in range(CHUNK_BITS) for d in range(b + 1, CHUNK_BITS)]
    if radius >= 3:
        raise MLError("Probe radius above 2 is not supported: use more chunks for a larger distance.")
    return out


def _within(c: int, radius: int) -> list[int]:
    return [c ^ m for m in probe_masks(radius)]


def probe_pairs(values: Sequence[bytes], *, max_distance: int = MAX_DISTANCE) -> tuple[np.ndarray, np.ndarray]:
    """Per chunk position, the probes of each hash of ``values`` tagged with its number: ``(chunk,
    n)``, two int64 arrays of shape ``CHUNKS x (len(values) * probes per chunk)``. Row ``pos`` holds
    :func:`probe_chunks` ``([values[n]])[pos]`` for every ``n``; all hashes at once, in numpy, for a
    lookup of many images (a case of 256 images probes about half a million values)."""
    for value in values:
        _require_hash(value)
    masks = np.asarray(probe_masks(max_distance // CHUNKS), dtype=np.int64)
    # Big-endian 16-bit words are the chunks, most significant first (as :func:`chunks`).
    table = np.frombuffer(b"".join(values), dtype=f">u{CHUNK_BITS // 8}").astype(np.int64).reshape(len(values), CHUNKS)
    probes = table.T[:, :, None] ^ masks[None, None, :]  # CHUNKS x n x masks
    numbers = np.broadcast_to(np.arange(len(values), dtype=np.int64)[None, :, None], probes.shape)
    return probes.reshape(CHUNKS, -1), numbers.reshape(CHUNKS, -1)


def probe_chunks(values: Iterable[bytes], *, max_distance: int = MAX_DISTANCE) -> list[list[int]]:
    """Per chunk position, every chunk value a stored hash within ``max_distance`` of one of
    ``values`` may hold there; a true match holds one of them in at least one position."""
    radius = max_distance // CHUNKS
    probes: list[set[int]] = [set() for _ in range(CHUNKS)]
    for value in values:
        for pos, c in enumerate(chunks(value)):
            probes[pos].update(_within(c, radius))
    return [sorted(p) for p in probes]


def distances(query: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """Hamming distances between every row of ``query`` (n x 32 uint8) and of ``stored`` (m x 32):
    an n x m int array. For benchmarks and bulk checks; the portal uses :func:`hamming`."""
    q = np.unpackbits(np.asarray(query, dtype=np.uint8), axis=1).astype(np.float32)
    s = np.unpackbits(np.asarray(stored, dtype=np.uint8), axis=1).astype(np.float32)
    # |a xor b| = |a| + |b| - 2 a.b, one matrix product instead of n x m popcounts.
    return (q.sum(1)[:, None] + s.sum(1)[None, :] - 2 * (q @ s.T)).round().astype(np.int32)
