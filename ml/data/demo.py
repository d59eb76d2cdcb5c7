"""A small labelled real/ai_generated set that the project makes itself, for the embedded demo.

Real images are crops of the photographs bundled with scikit-image. Each synthetic image is the
same crop passed through a generator-style up-sampling decoder: the crop is pooled to half size
and decoded back with a stride-2 transposed convolution whose kernel is a bilinear kernel with a
per-image random perturbation. This leaves the periodic "checkerboard" traces that transposed
convolutions in GAN and diffusion decoders leave (the AutoGAN idea of Zhang et al. 2019,
"Detecting and Simulating Artifacts in GAN Fake Images").

A model trained on this set learns those traces only. It is a demonstration of the pipeline, not
a detector for real-world AI images, and Verity labels it as a demo wherever it is shown.
"""

from __future__ import annotations

import csv
import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# The generator column of every synthetic demo image: a model trained on it is a demo model.
DEMO_GENERATOR = "demo-transposed-conv"

# Photographs (not drawings or synthetic patterns) that ship inside scikit-image's wheel.
PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon",
          "hubble_deep_field", "immunohistochemistry", "retina", "brick", "grass", "gravel",
          "cell", "clock")


def _load_photos() -> list[tuple[str, np.ndarray]]:
    import skimage.data

    photos = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in PHOTOS:
            arr = np.asarray(getattr(skimage.data, name)())
            if arr.ndim == 2:
                arr = np.stack([arr] * 3, axis=-1)
            photos.append((name, arr[..., :3].astype(np.uint8)))
    return photos


def _bilinear_kernel() -> torch.Tensor:
    k1 = torch.tensor([0.25, 0.75, 0.75, 0.25])
    return torch.outer(k1, k1)  # 4x4, sums to 4: preserves brightness at stride 2


def synthesise(crop: np.ndarray, rng: np.random.Generator, strength: float = 0.25) -> np.ndarray:
    """Decode ``crop`` (HxWx3 uint8, even sides) through a perturbed transposed convolution."""
    x = torch.from_numpy(crop).permute(2, 0, 1).float().unsqueeze(0) / 255.0
    small = F.avg_pool2d(x, 2)
    base = _bilinear_kernel()
    weight = torch.zeros(3, 3, 4, 4)
    for c in range(3):
        noise = torch.from_numpy(rng.normal(0.0, strength, size=(4, 4))).float()
        weight[c, c] = base * (1.0 + noise)
    out = F.conv_transpose2d(small, weight, stride=2, padding=1)
    pixels = out.clamp(0, 1).squeeze(0).permute(1, 2, 0).numpy()
    return (pixels * 255.0 + 0.5).astype(np.uint8)


def _split_for(index: int, seed: int) -> str:
    # A pair (real crop and its synthetic twin) always lands in the same split, so the test
    # split never contains the twin of a training image.
    h = int(hashlib.sha256(f"{seed}:{index}".encode()).hexdigest(), 16) % 100
    return "train" if h < 70 else ("val" if h < 85 else "test")


def generate_demo_dataset(out: str | Path, *, pairs: int = 300, size: int = 128,
                          seed: int = 0, progress: bool = False) -> Path:
    """Write ``pairs`` real/synthetic pairs of ``size``-pixel squares under ``out`` as
    ``<split>/<REAL|FAKE>/<n>.png`` plus a ``MANIFEST.csv``. Deterministic for a given seed."""
    if size % 2:
        raise ValueError("size must be even")
    out = Path(out)
    rng = np.random.default_rng(seed)
    photos = [(n, a) for n, a in _load_photos() if min(a.shape[:2]) >= size]
    rows = []
    iterator = range(pairs)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="Generating demo images", unit="pair")
    for i in iterator:
        name, photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        # Random scale (area downsampling of the photograph, the same for both classes), then crop.
        scale = rng.uniform(max(size / min(h, w), 0.35), 1.0)
        if scale < 0.999:
            photo = np.asarray(Image.fromarray(photo).resize(
                (max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BOX))
            h, w = photo.shape[:2]
        top, left = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        crop = photo[top:top + size, left:left + size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = np.ascontiguousarray(crop)
        fake = synthesise(crop, rng)
        split = _split_for(i, seed)
        for label, folder, arr in (("real", "REAL", crop), ("ai_generated", "FAKE", fake)):
            rel = Path(split) / folder / f"{i:05d}.png"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(out / rel)
            rows.append({"path": rel.as_posix(), "label": label, "split": split,
                         "source": f"skimage:{name}",
                         "generator": "" if label == "real" else DEMO_GENERATOR})
    with (out / "MANIFEST.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "label", "split", "source", "generator"])
        writer.writeheader()
        writer.writerows(rows)
    return out
