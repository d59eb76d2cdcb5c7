"""Issue 17: inference precision on this machine, every ratio measured side by side in one run.

(a) Loop limit: ResNet50 forward + Grad-CAM (the worker's GradCamExplainer) on preprocessed
    ``--loop-size`` px batches of 8 and 32, for fp32 eager (the model as served before this issue),
    fp32 with BatchNorm folded, bf16 and int8 (ml/precision.py). The variants run interleaved,
    one call each per round, for ``--rounds`` rounds, so a change in the load of a shared host
    hits them all alike; each round's ratio to fp32 eager is computed within the round.
(b) Agreement with fp32 on the shared test splits (cifake test, unsplash-gemini test,
    commons-zimage), through ``Predictor.explain`` (the worker's path): verdict agreement, mean and
    max |p - p_fp32|, Grad-CAM map correlation, accuracy.
(b') The same on whole images through the served path (``ml.wholeimage.analyse``: every tile up to
    ``--max-tiles``, the served aggregation, the Grad-CAM map stitched over the whole image, as the
    case page shows it), section ``served_agreement``. With a 32 px model each tile's map is one
    cell, so the crop section's maps are flat; the stitched map over a photo is not.
(c) Tiles per second for a 12-megapixel photo (4000 x 3000), tiled inference with Grad-CAM on the
    representative tile, per precision, interleaved.

    .venv/bin/python benchmarks/precision.py --checkpoint CKPT --out benchmarks/precision_results \\
        [--calibration-data ../shared/data] [--sections loop,agreement,tiles]

The loop and tile timings do not depend on the weights; the agreement does (see precision.md for
the checkpoint used).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from ml import precision  # noqa: E402
from ml.checkpoint import load_checkpoint  # noqa: E402
from ml.data.sources import load_samples  # noqa: E402
from ml.explain import DecisionTarget, GradCamExplainer  # noqa: E402
from ml.imageio import decode_image  # noqa: E402
from ml.predict import Predictor  # noqa: E402
from ml.preprocess import center_crop  # noqa: E402
from ml.tiling import DEFAULT_MAX_TILES  # noqa: E402
from ml.wholeimage import analyse  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def _log(msg: str) -> None:
    print(f"[{dt.datetime.now(dt.timezone.utc):%H:%M:%S}Z] {msg}", flush=True)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def loop_section(checkpoint: Path, args: argparse.Namespace, calibration: Any) -> dict[str, Any]:
    model, meta = load_checkpoint(checkpoint)
    model = model.eval().to(memory_format=torch.channels_last)
    size = args.loop_size
    variants: dict[str, torch.nn.Module] = {"fp32_eager": model,
                                            "fp32_folded": precision.fold_batchnorm(model)}
    t0 = time.time()
    variants["bf16"] = precision.to_bf16(model)
    convert_s = {"bf16": time.time() - t0}
    if "int8" in args.precisions:
        t0 = time.time()
        variants["int8"] = precision.to_int8(model, calibration())
        convert_s["int8"] = time.time() - t0
    out: dict[str, Any] = {"input_size": size, "convert_s": convert_s, "batches": {}}
    target = DecisionTarget(meta.temperature, meta.threshold)
    for batch in args.loop_batches:
        torch.manual_seed(0)
        x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
        cams = {name: GradCamExplainer(m) for name, m in variants.items()}
        for cam in cams.values():  # warm-up: first calls pay for oneDNN kernel selection
            cam(x, [target] * batch)
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        load = [_load()]
        for r in range(args.rounds):
            for name, cam in cams.items():
                t = time.perf_counter()
                cam(x, [target] * batch)
                seconds[name].append(time.perf_counter() - t)
            load.append(_load())
            _log(f"batch {batch} round {r + 1}: " + ", ".join(f"{n} {s[-1]:.2f}s" for n, s in seconds.items()))
        for cam in cams.values():
            cam.close()
        entry: dict[str, Any] = {"loadavg_per_round": load, "variants": {}}
        for name, s in seconds.items():
            ratios = [a / b for a, b in zip(seconds["fp32_eager"], s)]
            entry["variants"][name] = {
                "seconds_per_call": s, "images_per_s_median": batch / statistics.median(s),
                "images_per_s_best": batch / min(s), "speedup_vs_fp32_eager_per_round": ratios,
                "speedup_vs_fp32_eager_median": statistics.median(ratios)}
        out["batches"][str(batch)] = entry
    return out


def _test_samples(limit_cifake: int, split: str = "test") -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for source in ("cifake", "unsplash-gemini", "commons-zimage"):
        samples = [s for s in load_samples(SHARED / source) if s.split == split]
        if not samples:
            continue
        if source == "cifake" and limit_cifake and len(samples) > limit_cifake:
            samples = samples[::len(samples) // limit_cifake][:limit_cifake]
        out[source] = samples
    return out


def _test_images(limit_cifake: int, size: int) -> dict[str, list[tuple[Image.Image, int]]]:
    """Each source's test split, as the centre crops the model sees (cifake: every k-th image)."""
    out: dict[str, list[tuple[Image.Image, int]]] = {}
    for source, samples in _test_samples(limit_cifake).items():
        images = []
        for s in samples:
            im = decode_image(s.read_bytes()).convert("RGB")
            if min(im.size) >= size:  # keep only the crop: the same pixels, far less memory
                im = center_crop(im, size)[0]
            images.append((im, s.target))
        out[source] = images
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if np.ptp(a) <= 1e-6 or np.ptp(b) <= 1e-6:  # flat (std() of a constant float32 array is not always 0)
        return None
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


RECHECK = "int8_recheck"  # int8 with the fp32 recheck at the threshold (band: --int8-recheck)


def _predictors(checkpoint: Path, args: argparse.Namespace) -> dict[str, Predictor]:
    """fp32 and each asked-for precision, each checked to be served as asked (no silent fallback).
    ``int8`` is int8 alone; ``int8_recheck`` int8 with the fp32 recheck within ``--int8-recheck``."""
    predictors = {}
    for p in ["fp32", *[q for q in args.precisions if q != "fp32"]]:
        served = "int8" if p == RECHECK else p
        predictors[p] = Predictor(checkpoint, device="cpu", precision=served,
                                  calibration_data=args.calibration_data if served == "int8" else None,
                                  recheck_log_odds=args.int8_recheck if p == RECHECK else 0.0)
        assert predictors[p].precision.precision == served, predictors[p].precision.to_dict()
        assert (predictors[p].reference is not None) == (p == RECHECK and args.int8_recheck > 0)
    return predictors


def _log_odds(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log(q / (1 - q))


def recheck_band_section(checkpoint: Path, args: argparse.Namespace) -> dict[str, Any]:
    """How far int8 moves each validation image's calibrated log-odds from fp32's on the served
    path (no recheck), per source and pooled: the distribution the recheck band is read from."""
    ref = Predictor(checkpoint, device="cpu", precision="fp32")
    low = Predictor(checkpoint, device="cpu", precision="int8", calibration_data=args.calibration_data,
                    recheck_log_odds=0.0)
    assert low.precision.precision == "int8", low.precision.to_dict()
    threshold = ref.meta.threshold
    out: dict[str, Any] = {"split": "val", "threshold": threshold, "sources": {}}
    pooled: list[np.ndarray] = []
    near: dict[str, list[np.ndarray]] = {"fp32": [], "int8": []}
    for source, samples in _test_samples(0, split="val").items():
        if source == "commons-zimage":
            continue  # never trained on and has no validation split; listed only if it had one
        zs: dict[str, list[float]] = {"fp32": [], "int8": []}
        for i in range(0, len(samples), args.agreement_batch):
            chunk = [decode_image(s.read_bytes()).convert("RGB") for s in samples[i:i + args.agreement_batch]]
            for name, pred in (("fp32", ref), ("int8", low)):
                got = analyse(pred, chunk, max_tiles=args.max_tiles, explain=False, check_faithfulness=False)
                zs[name] += [x.probability_ai for x in got]
        z32, z8 = _log_odds(np.array(zs["fp32"])), _log_odds(np.array(zs["int8"]))
        d = np.abs(z8 - z32)
        pooled.append(d)
        for name, z in (("fp32", z32), ("int8", z8)):
            near[name].append(np.abs(z - _log_odds(np.array([threshold]))[0]))
        flips = int(((np.array(zs["int8"]) >= threshold) != (np.array(zs["fp32"]) >= threshold)).sum())
        out["sources"][source] = {"n": len(samples), "flips": flips,
                                  **{f"abs_dz_p{q}": float(np.percentile(d, q)) for q in (50, 90, 99, 99.9)},
                                  "abs_dz_max": float(d.max())}
        _log(f"recheck band {source}: " + json.dumps(out["sources"][source]))
    d = np.concatenate(pooled)
    dist8 = np.concatenate(near["int8"])
    out["pooled"] = {"n": int(len(d)), **{f"abs_dz_p{q}": float(np.percentile(d, q)) for q in (50, 90, 99, 99.9)},
                     "abs_dz_max": float(d.max())}
    # The registered rule (precision.md, eighth session): the 99th percentile, rounded up to 0.01.
    band = float(np.ceil(np.percentile(d, 99) * 100) / 100)
    out["band_rule"] = "99th percentile of pooled |dz|, rounded up to 0.01"
    out["band"] = band
    out["share_of_images_within_band"] = float((dist8 < band).mean())
    ref.close()
    low.close()
    return out


def _agreement(ref_p: np.ndarray, q: np.ndarray, y: np.ndarray, threshold: float,
               corrs: list[float | None], flat_equal: int) -> dict[str, Any]:
    """A precision's probabilities ``q`` and Grad-CAM map correlations against fp32's ``ref_p``."""
    valid = [c for c in corrs if c is not None]
    accuracy, accuracy_fp32 = float(((q >= threshold) == y).mean()), float(((ref_p >= threshold) == y).mean())
    return {"verdict_agreement": float(((q >= threshold) == (ref_p >= threshold)).mean()),
            "mean_abs_dp": float(np.abs(q - ref_p).mean()), "max_abs_dp": float(np.abs(q - ref_p).max()),
            "gradcam_maps_compared": len(valid),
            "gradcam_corr_mean": float(np.mean(valid)) if valid else None,
            "gradcam_corr_p01": float(np.percentile(valid, 1)) if valid else None,
            "gradcam_corr_min": float(np.min(valid)) if valid else None,
            "gradcam_fraction_ge_0_98": float(np.mean([c >= 0.98 for c in valid])) if valid else None,
            "gradcam_flat_maps": len(corrs) - len(valid), "gradcam_flat_maps_equal": flat_equal,
            "accuracy": accuracy, "accuracy_delta_points": 100 * (accuracy - accuracy_fp32)}


def agreement_section(checkpoint: Path, args: argparse.Namespace) -> dict[str, Any]:
    predictors = _predictors(checkpoint, args)
    size = predictors["fp32"].meta.preprocess.input_size
    data = _test_images(args.cifake_limit, size)
    out: dict[str, Any] = {"input_size": size, "sources": {}}
    for source, items in data.items():
        results: dict[str, dict[str, list[Any]]] = {p: {"p": [], "maps": []} for p in predictors}
        t_spent = {p: 0.0 for p in predictors}
        for i in range(0, len(items), args.agreement_batch):
            chunk = [im for im, _ in items[i:i + args.agreement_batch]]
            for p, pred in predictors.items():
                t = time.perf_counter()
                preds = pred.explain(chunk)
                t_spent[p] += time.perf_counter() - t
                results[p]["p"] += [x.probability_ai for x in preds]
                results[p]["maps"] += [x.heatmap for x in preds]
        y = np.array([t for _, t in items])
        threshold = predictors["fp32"].meta.threshold
        ref_p = np.array(results["fp32"]["p"])
        src: dict[str, Any] = {"n": len(items), "accuracy_fp32": float(((ref_p >= threshold) == y).mean()),
                               "seconds": t_spent}
        for p in predictors:
            if p == "fp32":
                continue
            corrs = [_corr(a, b) for a, b in zip(results["fp32"]["maps"], results[p]["maps"])]
            flat_equal = sum(1 for c, a, b in zip(corrs, results["fp32"]["maps"], results[p]["maps"])
                             if c is None and np.allclose(a, b, atol=0.02))
            src[p] = _agreement(ref_p, np.array(results[p]["p"]), y, threshold, corrs, flat_equal)
        out["sources"][source] = src
        _log(f"agreement {source}: " + json.dumps({k: v for k, v in src.items() if k != 'seconds'}))
    for pred in predictors.values():
        pred.close()
    return out


def _map_corr(a: np.ndarray, b: np.ndarray) -> float | None:
    """Correlation of two stitched maps over the pixels both judged (None: either is flat there)."""
    both = ~np.isnan(a) & ~np.isnan(b)
    return _corr(a[both], b[both]) if both.any() else None


def served_agreement_section(checkpoint: Path, args: argparse.Namespace) -> dict[str, Any]:
    predictors = _predictors(checkpoint, args)
    threshold = predictors["fp32"].meta.threshold
    out: dict[str, Any] = {"input_size": predictors["fp32"].meta.preprocess.input_size,
                           "max_tiles": args.max_tiles, "sources": {}}
    for source, samples in _test_samples(args.cifake_limit).items():
        probs: dict[str, list[float]] = {p: [] for p in predictors}
        corrs: dict[str, list[float | None]] = {p: [] for p in predictors if p != "fp32"}
        flat_equal = {p: 0 for p in corrs}
        tiles = 0
        t_spent = {p: 0.0 for p in predictors}
        rechecked = {p: 0 for p in predictors if predictors[p].reference is not None}
        for i in range(0, len(samples), args.agreement_batch):
            chunk = [decode_image(s.read_bytes()).convert("RGB") for s in samples[i:i + args.agreement_batch]]
            got = {}
            for p, pred in predictors.items():
                t = time.perf_counter()
                got[p] = analyse(pred, chunk, max_tiles=args.max_tiles, check_faithfulness=False)
                t_spent[p] += time.perf_counter() - t
                probs[p] += [x.probability_ai for x in got[p]]
            tiles += sum(len(x.boxes) for x in got["fp32"])
            for p in rechecked:
                rechecked[p] += sum(x.rechecked for x in got[p])
            for p in corrs:
                for ref, var in zip(got["fp32"], got[p]):
                    assert ref.heatmap is not None and var.heatmap is not None
                    c = _map_corr(ref.heatmap, var.heatmap)
                    corrs[p].append(c)
                    if c is None and np.allclose(np.nan_to_num(ref.heatmap), np.nan_to_num(var.heatmap), atol=0.02):
                        flat_equal[p] += 1
        y = np.array([s.target for s in samples])
        ref_p = np.array(probs["fp32"])
        src: dict[str, Any] = {"n": len(samples), "tiles": tiles,
                               "accuracy_fp32": float(((ref_p >= threshold) == y).mean()), "seconds": t_spent}
        for p in corrs:
            src[p] = _agreement(ref_p, np.array(probs[p]), y, threshold, corrs[p], flat_equal[p])
            if p in rechecked:
                src[p]["rechecked_images"] = rechecked[p]
        out["sources"][source] = src
        _log(f"served agreement {source}: " + json.dumps({k: v for k, v in src.items() if k != 'seconds'}))
    for pred in predictors.values():
        pred.close()
    return out


def tiles_section(checkpoint: Path, args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    # A 12 MP photo-like image: smooth structure plus sensor-like noise.
    base = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).resize((4000, 3000), Image.Resampling.BICUBIC)
    noise = rng.normal(0, 6, (3000, 4000, 3))
    photo = Image.fromarray(np.clip(np.asarray(base, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
    # int8 alone, as in the loop: the benchmark's untrained weights put every image inside the
    # recheck band, which would time the fp32 recheck instead (precision.md, ninth session).
    predictors = {p: Predictor(checkpoint, device="cpu", precision=p, max_tiles=args.tiles,
                               calibration_data=args.calibration_data if p == "int8" else None, recheck_log_odds=0.0)
                  for p in ["fp32", *[q for q in args.precisions if q not in ("fp32", RECHECK)]]}
    for pred in predictors.values():
        pred.explain([photo.crop((0, 0, 1000, 1000))])  # warm-up
    seconds: dict[str, list[float]] = {p: [] for p in predictors}
    n_tiles = 0
    for _ in range(args.tile_rounds):
        for p, pred in predictors.items():
            t = time.perf_counter()
            result = pred.explain([photo])[0]
            seconds[p].append(time.perf_counter() - t)
            n_tiles = len(result.tiles)
    for pred in predictors.values():
        pred.close()
    return {"image": "4000x3000", "tiles": n_tiles, "tile_size": predictors["fp32"].meta.preprocess.input_size,
            "variants": {p: {"seconds": s, "tiles_per_s_median": n_tiles / statistics.median(s),
                             "speedup_vs_fp32_median": statistics.median(
                                 [a / b for a, b in zip(seconds["fp32"], s)])} for p, s in seconds.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True, help="folder for results.json")
    ap.add_argument("--calibration-data", default=str(SHARED),
                    help="int8 calibration: the train split of this dataset (default: the shared sources)")
    ap.add_argument("--precisions", default="bf16,int8")
    ap.add_argument("--sections", default="loop,agreement,tiles")
    ap.add_argument("--loop-size", type=int, default=224)
    ap.add_argument("--loop-batches", default="8,32")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cifake-limit", type=int, default=400, help="cifake test images (every k-th; 0: all 2000)")
    ap.add_argument("--agreement-batch", type=int, default=16)
    ap.add_argument("--max-tiles", type=int, default=DEFAULT_MAX_TILES,
                    help="served_agreement: tile budget per image (the worker's VERITY_MAX_TILES default)")
    ap.add_argument("--assume-native", action="store_true",
                    help="serve bf16/int8 even where this CPU lacks their instructions (emulated): for the "
                         "agreement sections' numerics on such a CPU; its timings then mean nothing")
    ap.add_argument("--int8-float-modules", default="",
                    help="comma-separated positions in the backbone Sequential (0-3 stem, 4-7 layer1-layer4, "
                         "e.g. 7 or 7.2) left in fp32 besides ml.precision's defaults: a measurement, not served")
    ap.add_argument("--int8-recheck", type=float, default=precision.INT8_RECHECK_LOG_ODDS,
                    help="int8_recheck: the band in log-odds around the threshold judged again in fp32 "
                         "(default: the served ml.precision.INT8_RECHECK_LOG_ODDS)")
    ap.add_argument("--tiles", type=int, default=48, help="max tiles for the 12 MP photo")
    ap.add_argument("--tile-rounds", type=int, default=2)
    args = ap.parse_args()
    args.precisions = [p for p in args.precisions.split(",") if p]
    args.loop_batches = [int(b) for b in args.loop_batches.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = Path(args.checkpoint)
    _, meta = load_checkpoint(checkpoint)
    cache: list[list[torch.Tensor]] = []

    def calibration() -> list[torch.Tensor]:
        if not cache:
            cache.append(precision.calibration_batches(args.calibration_data, meta.preprocess))
        return cache[0]

    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "checkpoint": {"path": str(checkpoint), "name": meta.name, "is_demo": meta.is_demo,
                       "input_size": meta.preprocess.input_size},
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "platform": platform.platform(), "cpu_features": precision.cpu_features().to_dict(),
                    "load_note": "see loadavg_start / loadavg_end: other jobs may share the machine"},
        "loadavg_start": _load(),
    }
    torch.set_num_threads(int(os.environ.get("VERITY_TORCH_THREADS") or os.cpu_count() or 1))
    if args.int8_float_modules:
        served_mapping = precision.int8_qconfig_mapping
        extra = [m for m in args.int8_float_modules.split(",") if m]

        def mapping_with_float_modules(*a: Any, **k: Any) -> Any:
            mapping = served_mapping(*a, **k)
            for name in extra:
                mapping.set_module_name(name, None)
            return mapping

        precision.int8_qconfig_mapping = mapping_with_float_modules  # type: ignore[assignment]
        results["machine"]["int8_extra_float_modules"] = extra
    if args.assume_native:  # Predictor -> precision.prepare reads the CPU's features through this
        real = precision.cpu_features()
        claimed = dataclasses.replace(real, mkldnn=True, flags=real.flags | {"avx512_bf16", "avx512_vnni"})
        precision.cpu_features = lambda: claimed  # type: ignore[assignment]
        results["machine"]["assumed_native"] = "bf16 and int8 served although not native (numerics only)"
    sections = args.sections.split(",")
    for name, fn in (("loop", lambda: loop_section(checkpoint, args, calibration)),
                     ("agreement", lambda: agreement_section(checkpoint, args)),
                     ("served_agreement", lambda: served_agreement_section(checkpoint, args)),
                     ("recheck_band", lambda: recheck_band_section(checkpoint, args)),
                     ("tiles", lambda: tiles_section(checkpoint, args))):
        if name not in sections:
            continue
        _log(f"section {name} (load {_load()})")
        t0 = time.time()
        results[name] = fn()
        results[name]["wall_s"] = time.time() - t0
        results["loadavg_end"] = _load()
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
