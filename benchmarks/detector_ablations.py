"""Ablations of the detector recipe (issue 12, item 4), chosen on VALIDATION splits only.

    PYTHONPATH=. python benchmarks/detector_ablations.py --variants rgb,npr,rgb_jpeg --steps 1200 \\
        --out benchmarks/detector/ablations.json [--init /path/to/model.pt] [--seeds 0,1] \\
        [--train-precision auto|fp32|bf16]

Each variant trains ResNet50 from scratch (no pretrained weights exist here; ``ft_*`` variants start
from ``--init``) for ``--steps`` steps of 32 crops, then is scored on the validation splits of
``cifake`` (200 images) and ``unsplash-gemini`` (146) with tiled inference (``--tiles`` native
tiles per image, the served ``mean_logit`` rule, threshold and temperature from the variant's own
calibration). Test splits are never touched. Every variant gets the same number of steps, so the
table compares what one training budget buys; wall and CPU seconds are reported beside it.
``--seeds`` trains every variant once per training seed (initial weights, crop positions, order); the
validation images stay the same seeded sample for every seed, so the seed-to-seed spread is the
training's own.
Results are appended to the JSON after every variant.

Variants (training data; input):
``rgb``           unsplash-gemini train only (listed 8 times, each listing another random native
                  32 px crop); pixels.
``npr``           as ``rgb``, neighbouring-pixel residual input (Tan et al. 2024, ml.model.npr).
``rgb_jpeg``      as ``rgb``, re-share augmentation (JPEG re-compression p=0.5, quality 30-100).
``rgb_crop64``    as ``rgb``, 64 px crops and 64 px tiles.
``rgb_small_stem`` as ``rgb``, the small stem (``ModelConfig.stem = "small"``: one 3x3 stride-1
                  convolution, no max-pool).
``rgb_resample``  as ``rgb``, but each photo RESAMPLED to 32 x 32 (bicubic, the usual
                  "resize to the network's input" pipeline) in training and evaluation: one
                  tile per image. The native-crop variants are the alternative.
``cifake_only``   cifake train only; pixels.
``both``          cifake + unsplash-gemini (listed 4 times): the served recipe's data.
``ft_ug``         ``--init`` (a checkpoint trained on cifake + unsplash-gemini) fine-tuned on
                  unsplash-gemini only at a third of the learning rate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from ml.config import ModelConfig, PreprocessConfig, TrainConfig
from ml.data.sources import Sample
from ml.imageio import decode_image
from ml.recipe import (
    evaluate_per_source,
    training_samples,
    write_training_manifest,
)
from ml.train import train
from run_record import cpu_model  # noqa: E402  (a sibling: the script's folder is on sys.path)

UG = "unsplash-gemini"
VARIANTS: dict[str, dict[str, Any]] = {
    "rgb": {},
    "npr": {"representation": "npr"},
    "rgb_jpeg": {"jpeg_prob": 0.5},
    "rgb_crop64": {"size": 64},
    "rgb_crop64_jpeg": {"size": 64, "jpeg_prob": 0.5},
    "rgb_crop128": {"size": 128},
    "rgb_resample": {"resample": True},
    "cifake_only": {"sources": ["cifake"], "repeat": {}},
    "rgb_small_stem": {"stem": "small"},
    "cifake_only_small_stem": {"sources": ["cifake"], "repeat": {}, "stem": "small"},
    "both": {"sources": ["cifake", UG], "repeat": {UG: 4}},
    "ft_ug": {"init": True, "lr": 3e-4},
}


def _squash(im: Image.Image, size: int = 32) -> Image.Image:
    return im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)


def _resampled_copies(samples: list[Sample], folder: Path) -> list[Sample]:
    """Each distinct image written once, resampled to 32 x 32 (PNG, lossless), as new samples."""
    folder.mkdir(parents=True, exist_ok=True)
    done: dict[str, Path] = {}
    out = []
    for s in samples:
        if s.ref not in done:
            path = folder / f"{len(done):06d}.png"
            _squash(decode_image(s.read_bytes())).save(path)
            done[s.ref] = path
        out.append(replace(s, path=done[s.ref], member=""))
    return out


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _steps_trained(metrics: Path) -> int:
    epochs = [json.loads(line) for line in metrics.read_text().splitlines() if '"event": "epoch"' in line]
    return int(epochs[-1]["step"]) if epochs else 0


def run_variant(name: str, data: str, work: Path, steps: int, tiles: int, init: str | None,
                seed: int = 0, precision: str = "auto") -> dict:
    v = VARIANTS[name]
    size = v.get("size", 32)
    run = work / (name if seed == 0 else f"{name}_seed{seed}")
    if v.get("init") and not init:
        raise SystemExit(f"variant {name} needs --init CHECKPOINT")
    sources = v.get("sources", [UG])
    samples, _ = training_samples(data, sources=sources, repeat=v.get("repeat", {UG: 8}), include_test=False,
                                  val_per_class=100)
    if v.get("resample"):
        samples = _resampled_copies(samples, run / "resampled")
    manifest = write_training_manifest(samples, run / "manifest.csv")
    train_rows = [s for s in samples if s.split == "train"]
    # As many epochs as it takes to reach ``steps`` (the step budget is what every variant shares; a
    # small training list would otherwise end after its one epoch).
    cfg = TrainConfig(data=str(manifest), out_dir=str(run), epochs=-(-steps * 32 // len(train_rows)),
                      max_steps=steps, batch_size=32,
                      lr=v.get("lr", 1e-3), warmup_epochs=0.05, seed=seed, num_workers=1, precision=precision,
                      jpeg_prob=v.get("jpeg_prob", 0.0), init_checkpoint=init if v.get("init") else None,
                      model=ModelConfig(input_representation=v.get("representation", "rgb"),
                                        stem=v.get("stem", "imagenet")),
                      preprocess=PreprocessConfig(input_size=size, train_crop=size))
    load_start = os.getloadavg()
    t0, c0 = time.perf_counter(), _cpu()
    result = train(cfg, show_bar=False, name=f"ablation-{name}")
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    # The same validation images for every variant (seeded sample of 100 per class and source).
    val, _ = training_samples(data, sources=["cifake", UG], include_test=False, val_per_class=100)
    val = [s for s in val if s.split == "val"]
    per_source = evaluate_per_source(result.checkpoint, val, max_tiles=1 if v.get("resample") else tiles,
                                     transform=_squash if v.get("resample") else None)
    keys = ("n", "accuracy", "precision", "recall", "roc_auc", "ece", "threshold", "max_tiles")
    trained = _steps_trained(run / "metrics.jsonl")
    return {"variant": name, "config": {k: cfg.to_dict()[k] for k in ("max_steps", "batch_size", "lr", "jpeg_prob",
                                                                     "seed", "precision", "decode_cache_mb")}
            | {"input_size": size, "representation": v.get("representation", "rgb"),
               "stem": v.get("stem", "imagenet"), "sources": sources,
               "repeat": v.get("repeat", {UG: 8}), "resampled": bool(v.get("resample")),
               "init": init if v.get("init") else None},
            "trained_in": result.metrics.get("training_precision"),
            "steps_trained": trained, "train_images_seen": trained * 32,
            "train_wall_s": round(wall, 1), "train_cpu_s": round(cpu, 1),
            "loadavg_train_start": load_start, "loadavg_train_end": os.getloadavg(),
            "val_centre_crop_during_training": result.metrics.get("val"),
            "val_tiled": {src: {k: m.get(k) for k in keys} for src, m in per_source.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--variants", default="rgb,npr,rgb_jpeg")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--tiles", type=int, default=16)
    ap.add_argument("--work", default="/work/runs/ablations", help="run folders (never commit them)")
    ap.add_argument("--init", default=None, help="checkpoint the ft_* variants start from")
    ap.add_argument("--out", default="benchmarks/detector/ablations.json")
    ap.add_argument("--seeds", default="0", help="training seeds, comma-separated: every variant runs once per seed")
    ap.add_argument("--train-precision", default="auto", choices=["auto", "fp32", "bf16"],
                    help="TrainConfig.precision for every run (auto: as ml.train decides)")
    args = ap.parse_args()
    out = Path(args.out)
    report: dict[str, Any] = {"command": "python benchmarks/detector_ablations.py " + " ".join(sys.argv[1:]),
              "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": f"{platform.node()} ({platform.machine()}): {os.cpu_count()} vCPU {cpu_model()}, no GPU; "
                         f"VERITY_TORCH_THREADS={os.environ.get('VERITY_TORCH_THREADS', 'unset')}; "
                         "the load on the cores during the run: see benchmarks/detector.md",
              "selection": "validation splits only (cifake and unsplash-gemini, at most 100 per class); test untouched",
              "results": []}
    for seed in (int(x) for x in args.seeds.split(",")):
        for name in args.variants.split(","):
            report["results"].append(run_variant(name, args.data, Path(args.work), args.steps, args.tiles, args.init,
                                                 seed=seed, precision=args.train_precision))
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=2))
            print(json.dumps({"variant": name, "seed": seed} | report["results"][-1]["val_tiled"]), flush=True)


if __name__ == "__main__":
    main()
