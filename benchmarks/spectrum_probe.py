"""A linear probe on the noise residual's spectrum (detector.md 5o): is the information there?

Per image: grey levels at native resolution, the residual ``x - mean(4 neighbours)`` (what is left
once the picture's content is predicted from its neighbours), its log power spectrum averaged over
``WINDOWS`` fixed windows of ``--window`` pixels, then pooled two ways: to 32 x 32 bins of the
centred spectrum, and to a radial profile. A logistic regression (C by 5-fold CV on train, features
standardised) is fitted on one source's train split and scored on its validation split; the file-
level shortcut (``ml.shortcuts``) is scored the same way beside it. Test splits are read only by
``--test`` (5p); ``--confound`` (5q) resizes validation. The features and the probe are
``ml.spectrum``'s (``python -m ml spectral-probe`` fits and applies one outside a benchmark).

    PYTHONPATH=. python benchmarks/spectrum_probe.py --data ../shared/data --source unsplash-gemini \
        --json benchmarks/detector/spectrum_probe_20261129.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.corruptions import jpeg  # noqa: E402
from ml.spectrum import WINDOWS, SpectralProbe, fit_probe, pooled, radial, residual_spectrum  # noqa: E402


def spectrum(data: bytes | Image.Image, size: int) -> np.ndarray:
    """``ml.spectrum.residual_spectrum`` of an image or of image bytes (opened as they are)."""
    return residual_spectrum(data if isinstance(data, Image.Image) else opened(data), window=size)


def fit(train_x: np.ndarray, train_y: np.ndarray) -> SpectralProbe:
    """``ml.spectrum.fit_probe``: standardised features, logistic regression, C by 5-fold CV on train."""
    # The features are computed here; window and bins only label a probe that judges images itself.
    return fit_probe(train_x, train_y.tolist(), window=0, bins=0)


def score(model: SpectralProbe, x: np.ndarray, y: np.ndarray) -> dict:  # type: ignore[type-arg]
    from sklearn.metrics import accuracy_score, roc_auc_score

    p = model.probabilities(x)
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(1000):  # percentile bootstrap over images, resampled within each class
        i = np.concatenate([rng.choice(np.flatnonzero(y == c), size=int((y == c).sum())) for c in (0, 1)])
        boot.append(roc_auc_score(y[i], p[i]))
    return {"n": int(len(y)), "roc_auc": round(float(roc_auc_score(y, p)), 4),
            "roc_auc_ci95": [round(float(v), 4) for v in np.percentile(boot, [2.5, 97.5])],
            "accuracy_at_0.5": round(float(accuracy_score(y, p >= 0.5)), 4)}


def probe(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray) -> dict:  # type: ignore[type-arg]
    model = fit(train_x, train_y)
    val, train = score(model, val_x, val_y), score(model, train_x, train_y)
    return {"val_roc_auc": val["roc_auc"], "val_accuracy_at_0.5": val["accuracy_at_0.5"],
            "train_roc_auc": train["roc_auc"], "C": model.c, "features": int(train_x.shape[1])}


def opened(data: bytes) -> Image.Image:
    """Image bytes as an RGB image, as they are (no EXIF rotation: the spectra were measured so)."""
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


def shrink(im: Image.Image, factor: float = 1280 / 1376, quality: int = 85) -> Image.Image:
    """One mild resize (Lanczos) and JPEG re-encode: what the source's generations went through."""
    small = im.convert("RGB").resize((round(im.width * factor), round(im.height * factor)), Image.Resampling.LANCZOS)
    return jpeg(small, quality)


def confound_run(args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    """detector.md 5q: the 5o probes on validation as it is and with every image mildly resized."""
    from ml.data.sources import load_samples

    samples = [s for s in load_samples(args.data) if s.source == args.source]
    rows: dict[str, list] = {"train": [], "val": [], "val_resized": []}  # type: ignore[type-arg]
    for s in samples:
        if s.split not in ("train", "val"):
            continue
        with Image.open(io.BytesIO(s.read_bytes())) as im:
            rgb = im.convert("RGB")
        rows[s.split].append((spectrum(rgb, args.window), s.target))
        if s.split == "val":
            rows["val_resized"].append((spectrum(shrink(rgb), args.window), s.target))
    out: dict = {}  # type: ignore[type-arg]
    for name, fn in (("spectrum_32x32", pooled), ("radial_64", radial)):
        x = {k: np.stack([fn(sp) for sp, _ in v]) for k, v in rows.items()}
        y = {k: np.array([t for _, t in v]) for k, v in rows.items()}
        model = fit(x["train"], y["train"])
        p = {k: model.probabilities(x[k]) for k in ("val", "val_resized")}
        means = {f"mean_p_{cls}_{k}": round(float(p[k][y[k] == t].mean()), 4)
                 for k in p for cls, t in (("real", 0), ("ai", 1))}
        gap = means["mean_p_ai_val"] - means["mean_p_real_val"]
        out[name] = {**means, "real_shift_share_of_gap": round((means["mean_p_real_val_resized"]
                                                                - means["mean_p_real_val"]) / gap, 4),
                     "val": score(model, x["val"], y["val"]),
                     "val_both_resized": score(model, x["val_resized"], y["val_resized"])}
    return out


def robust_run(args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    """detector.md 5r: the 32 x 32 probe fitted on train plus a re-shared and a social-chain copy of
    every train image, scored on validation as it is, re-shared and through the social chain."""
    from ml.data.sources import load_samples
    from ml.recipe import reshare
    from ml.reshare import social_chain

    samples = [s for s in load_samples(args.data) if s.source == args.source and s.split in ("train", "val")]

    transforms = {"": opened, "_reshared": lambda d: reshare(opened(d)),
                  "_social_chain": lambda d: opened(social_chain(d))}
    feats: dict[str, list[np.ndarray]] = {}
    targets: dict[str, list[int]] = {}
    t0 = time.time()
    for s in samples:
        data = s.read_bytes()
        for suffix, fn in transforms.items():
            key = s.split + suffix
            feats.setdefault(key, []).append(pooled(spectrum(fn(data), args.window)))
            targets.setdefault(key, []).append(s.target)
    x = np.concatenate([np.stack(feats[k]) for k in ("train", "train_reshared", "train_social_chain")])
    y = np.concatenate([np.array(targets[k]) for k in ("train", "train_reshared", "train_social_chain")])
    model = fit(x, y)
    return {"feature_seconds": round(time.time() - t0, 1), "n_train": int(len(y)), "C": model.c,
            **{k: score(model, np.stack(feats[k]), np.array(targets[k])) for k in ("val", "val_reshared",
                                                                                   "val_social_chain")}}


def reencode_run(args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    """detector.md 5s: the train-only probe and 5r's probe on validation re-encoded at its own size."""
    from ml.data.sources import load_samples
    from ml.recipe import reshare
    from ml.reshare import social_chain

    samples = [s for s in load_samples(args.data) if s.source == args.source and s.split in ("train", "val")]
    qualities = (90, 75, 60)

    feats: dict[str, list[np.ndarray]] = {}
    targets: dict[str, list[int]] = {}

    def add(key: str, im: Image.Image, target: int) -> None:
        feats.setdefault(key, []).append(pooled(spectrum(im, args.window)))
        targets.setdefault(key, []).append(target)

    for s in samples:
        data = s.read_bytes()
        im = opened(data)
        add(s.split, im, s.target)
        if s.split == "train":
            add("train_reshared", reshare(im), s.target)
            add("train_social_chain", opened(social_chain(data)), s.target)
        else:
            for q in qualities:
                add(f"val_jpeg{q}", jpeg(im, q), s.target)

    def stacked(keys: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        return (np.concatenate([np.stack(feats[k]) for k in keys]),
                np.concatenate([np.array(targets[k]) for k in keys]))

    probes = {"train_only": fit(*stacked(("train",))),
              "with_reshare_copies": fit(*stacked(("train", "train_reshared", "train_social_chain")))}
    scored = ["val"] + [f"val_jpeg{q}" for q in qualities]
    return {name: {"C": m.c, **{k: score(m, np.stack(feats[k]), np.array(targets[k])) for k in scored}}
            for name, m in probes.items()}


def resize_gate_run(args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    """detector.md 5t: the same features, fitted to tell images as they are from re-shared copies."""
    from ml.data.sources import load_samples
    from ml.recipe import reshare
    from ml.reshare import social_chain

    samples = [s for s in load_samples(args.data) if s.source == args.source and s.split in ("train", "val")]

    feats: dict[str, list[np.ndarray]] = {}
    for s in samples:
        data = s.read_bytes()
        im = opened(data)
        variants = {"": im, "_reshared": reshare(im)}
        if s.split == "val":
            variants.update({"_social_chain": opened(social_chain(data)), "_jpeg75": jpeg(im, 75)})
        for suffix, v in variants.items():
            feats.setdefault(s.split + suffix, []).append(pooled(spectrum(v, args.window)))
    x = {k: np.stack(v) for k, v in feats.items()}
    model = fit(np.concatenate([x["train"], x["train_reshared"]]),
                np.array([0] * len(x["train"]) + [1] * len(x["train_reshared"])))
    both = np.concatenate([x["val"], x["val_reshared"]])
    out = {"C": model.c, "val_vs_reshared": score(model, both, np.array([0] * len(x["val"]) + [1] * len(x["val"])))}
    out.update({f"mean_p_resized_{k[4:] or 'as_is'}": round(float(model.probabilities(x[k]).mean()), 4)
                for k in ("val", "val_reshared", "val_social_chain", "val_jpeg75")})
    return out


def test_run(args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    """detector.md 5p: the 5o probes fitted on train, scored once on the test splits and on
    re-shared validation; and the 32 x 32 probe fitted on train plus re-shared train copies."""
    from ml.data.sources import load_samples
    from ml.recipe import reshare
    from ml.reshare import social_chain

    samples = load_samples(args.data)

    def chosen(source: str, split: str) -> list:  # type: ignore[type-arg]
        return [s for s in samples if s.source == source and s.split == split]

    def spectra(items: list, transform=None) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def, type-arg]
        specs, ys = [], []
        for s in items:
            data = s.read_bytes()
            im = transform(data) if transform else opened(data)
            if min(im.size) < args.window + 2:  # too small for one window: left out, counted
                skipped.append(s.ref)
                continue
            specs.append(spectrum(im, args.window))
            ys.append(s.target)
        return np.stack(specs), np.array(ys)

    skipped: list[str] = []
    t0 = time.time()
    sets = {"train": spectra(chosen(args.source, "train")),
            "train_reshared": spectra(chosen(args.source, "train"), lambda d: reshare(opened(d))),
            f"{args.source}_test": spectra(chosen(args.source, "test")),
            "val_reshared": spectra(chosen(args.source, "val"), lambda d: reshare(opened(d))),
            "val_social_chain": spectra(chosen(args.source, "val"), lambda d: opened(social_chain(d)))}
    for other in sorted({s.source for s in samples} - {args.source, "cifake"}):
        sets[f"{other}_test"] = spectra(chosen(other, "test"))
    out: dict = {"feature_seconds": round(time.time() - t0, 1), "skipped_smaller_than_window": skipped}  # type: ignore[type-arg]
    scored = [k for k in sets if not k.startswith("train")]
    for name, fn, augmented in (("spectrum_32x32", pooled, False), ("radial_64", radial, False),
                                ("spectrum_32x32_reshare_aug", pooled, True)):
        feats = {k: np.stack([fn(sp) for sp in v[0]]) for k, v in sets.items()}
        x, y = feats["train"], sets["train"][1]
        if augmented:
            x, y = np.concatenate([x, feats["train_reshared"]]), np.concatenate([y, sets["train_reshared"][1]])
        model = fit(x, y)
        out[name] = {"C": model.c, **{k: score(model, feats[k], sets[k][1]) for k in scored}}
    return out


def emit(results: dict, path: str) -> int:  # type: ignore[type-arg]
    print(json.dumps(results, indent=2))
    if path:
        Path(path).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--source", default="unsplash-gemini")
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--test", action="store_true",
                        help="detector.md 5p: score the probes on the test splits and on re-shared validation")
    parser.add_argument("--confound", action="store_true",
                        help="detector.md 5q: the probes on validation mildly resized (resampling history?)")
    parser.add_argument("--robust", action="store_true",
                        help="detector.md 5r: fitted with re-shared and social-chain copies of train")
    parser.add_argument("--reencode", action="store_true",
                        help="detector.md 5s: validation re-encoded as JPEG 90/75/60 at its own size")
    parser.add_argument("--resize-gate", action="store_true",
                        help="detector.md 5t: fitted to tell images as they are from re-shared copies")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    header = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
              "source": args.source, "window": args.window, "windows": WINDOWS}
    if args.robust:
        return emit({**header, **robust_run(args)}, args.json)
    if args.reencode:
        return emit({**header, **reencode_run(args)}, args.json)
    if args.resize_gate:
        return emit({**header, **resize_gate_run(args)}, args.json)
    if args.confound or args.test:
        extra = ({"resize": 1280 / 1376, "jpeg_quality": 85, **confound_run(args)} if args.confound
                 else test_run(args))
        return emit({**header, **extra}, args.json)
    from sklearn.metrics import roc_auc_score

    from ml.data.sources import load_samples
    from ml.shortcuts import feature_matrix, shortcut_classifiers

    samples = [s for s in load_samples(args.data) if s.source == args.source and s.split in ("train", "val")]
    t0 = time.time()
    rows = {"train": [], "val": []}  # type: ignore[var-annotated]
    for s in samples:
        data = s.read_bytes()
        rows[s.split].append((spectrum(data, args.window), data, s.target))
    features_s = time.time() - t0
    results: dict = {**header, "n": {k: len(v) for k, v in rows.items()},  # type: ignore[type-arg]
                     "feature_seconds": round(features_s, 1)}
    y = {k: np.array([t for _, _, t in v]) for k, v in rows.items()}
    for name, fn in (("spectrum_32x32", pooled), ("radial_64", radial)):
        x = {k: np.stack([fn(sp) for sp, _, _ in v]) for k, v in rows.items()}
        results[name] = probe(x["train"], y["train"], x["val"], y["val"])
    fx = {k: feature_matrix([d for _, d, _ in v]) for k, v in rows.items()}
    results["shortcut"] = {}
    for name, clf in shortcut_classifiers().items():
        clf.fit(fx["train"], y["train"])
        results["shortcut"][name] = round(float(roc_auc_score(y["val"], clf.predict_proba(fx["val"])[:, 1])), 4)
    return emit(results, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
