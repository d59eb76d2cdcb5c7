"""Ablations of the detector recipe on unsplash-gemini (issue 12, item 4), chosen on VALIDATION.

    PYTHONPATH=. python benchmarks/detector_ablations.py --variants rgb,npr,rgb_jpeg --steps 150 \\
        --out benchmarks/detector/ablations.json

Each variant trains ResNet50 from scratch (no pretrained weights exist here) on unsplash-gemini's
train split only, for ``--steps`` steps of 32 random native 32 px crops (the training list repeats
each photo 8 times, each listing another random crop), then is scored on the validation split
with tiled inference (16 native tiles per image, mean of the tiles' probabilities). Test splits
are not touched. These are SMALL runs (a few thousand crops) because the machine was a 2-core VM
shared with seven other engineers' jobs: they rank variants at a tiny budget, they do not
predict what a full training reaches. Results are appended to the JSON after every variant.

Variants: ``rgb`` (the served recipe's input), ``npr`` (neighbouring-pixel residual of Tan et al.
2024, ml.model.npr, same ResNet50), ``rgb_jpeg`` (JPEG re-compression augmentation, p=0.5, quality
30-100: the re-encode half of a re-share chain), ``rgb_crop64`` (64 px crops and tiles).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.config import ModelConfig, PreprocessConfig, TrainConfig
from ml.data.sources import load_samples
from ml.recipe import (
    dedupe_across_splits,
    evaluate_per_source,
    training_samples,
    write_training_manifest,
)
from ml.train import train

VARIANTS: dict[str, dict[str, Any]] = {
    "rgb": {},
    "npr": {"representation": "npr"},
    "rgb_jpeg": {"jpeg_prob": 0.5},
    "rgb_crop64": {"size": 64},
}


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_variant(name: str, data: str, work: Path, steps: int, tiles: int) -> dict:
    v = VARIANTS[name]
    size = v.get("size", 32)
    samples, _ = training_samples(data, sources=["unsplash-gemini"], repeat={"unsplash-gemini": 8},
                                        include_test=False)
    manifest = write_training_manifest(samples, work / name / "manifest.csv")
    cfg = TrainConfig(data=str(manifest), out_dir=str(work / name), epochs=1, max_steps=steps, batch_size=32,
                      lr=1e-3, warmup_epochs=0.05, seed=0, num_workers=1, jpeg_prob=v.get("jpeg_prob", 0.0),
                      model=ModelConfig(input_representation=v.get("representation", "rgb")),
                      preprocess=PreprocessConfig(input_size=size, train_crop=size))
    t0, c0 = time.perf_counter(), _cpu()
    result = train(cfg, show_bar=False, name=f"ablation-{name}")
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    val = [s for s in dedupe_across_splits(load_samples(data))[0]
           if s.source == "unsplash-gemini" and s.split == "val"]
    m = evaluate_per_source(result.checkpoint, val, max_tiles=tiles)["unsplash-gemini"]
    return {"variant": name, "config": {k: cfg.to_dict()[k] for k in ("max_steps", "batch_size", "lr", "jpeg_prob")}
            | {"input_size": size, "representation": v.get("representation", "rgb"), "repeat": 8},
            "train_images_seen": steps * 32, "train_wall_s": round(wall, 1), "train_cpu_s": round(cpu, 1),
            "val_centre_crop_during_training": result.metrics.get("val"),
            "val_tiled": {k: m[k] for k in ("n", "accuracy", "precision", "recall", "roc_auc", "ece", "threshold")}
            | {"max_tiles": tiles}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--variants", default="rgb,npr,rgb_jpeg")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--tiles", type=int, default=16)
    ap.add_argument("--work", default="/work/ckpt/h12/ablations")
    ap.add_argument("--out", default="benchmarks/detector/ablations.json")
    args = ap.parse_args()
    out = Path(args.out)
    report: dict[str, Any] = {"command": "python benchmarks/detector_ablations.py " + " ".join(sys.argv[1:]),
              "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": f"{platform.node()} ({platform.machine()}), 2-core VM shared with 7 other engineers' jobs",
              "selection": "validation split only (unsplash-gemini val, 146 images); test untouched",
              "results": []}
    for name in args.variants.split(","):
        report["results"].append(run_variant(name, args.data, Path(args.work), args.steps, args.tiles))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        print(json.dumps(report["results"][-1]["val_tiled"] | {"variant": name}), flush=True)


if __name__ == "__main__":
    main()
