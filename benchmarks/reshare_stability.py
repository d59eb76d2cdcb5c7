"""Re-share stability of the detector's verdict, per source of ../shared/data: how often the
model's label on an image flips when the image is re-shared (ml.reshare.stability_set), and what a
stability check costs per image. Uses ml.stability.judge_reshares, the worker's own code.

Usage:

    .venv/bin/python benchmarks/reshare_stability.py --out benchmarks/results/reshare_stability.json \
        [--checkpoint /work/ckpt/current/model.pt] [--per-source 40]

Without ``--checkpoint`` (or when the file is missing) the demo model is trained once under
``--work`` with the recipe of ``manage.py ensure_model`` and the output says so: a demo model has
learnt one synthetic decoder's traces, so its flip rates say how the check behaves, not how a
real detector holds up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from ml.data.sources import load_samples  # noqa: E402
from ml.predict import Predictor  # noqa: E402
from ml.reshare import STABILITY_NAMES  # noqa: E402
from ml.stability import judge_reshares  # noqa: E402

SOURCES = ("unsplash-gemini", "commons-zimage", "cifake")


def demo_checkpoint(work: Path) -> Path:
    """The demo model of ``manage.py ensure_model`` (same data generator, same recipe)."""
    from ml.config import PreprocessConfig, TrainConfig
    from ml.data.demo import generate_demo_dataset
    from ml.train import train

    ckpt = work / "demo" / "model.pt"
    if ckpt.is_file():
        return ckpt
    data = work / "demo-data"
    if not (data / "MANIFEST.csv").exists():
        generate_demo_dataset(data, pairs=300, size=128, seed=0, progress=False)
    config = TrainConfig(data=str(data), out_dir=str(ckpt.parent), epochs=8, batch_size=32, lr=1e-3, seed=0,
                         preprocess=PreprocessConfig(input_size=128, train_crop=64))
    train(config, is_demo=True, name="demo-resnet50", show_bar=False)
    return ckpt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--checkpoint", default="/work/ckpt/current/model.pt")
    ap.add_argument("--work", default=str(ROOT / "var" / "reshare-stability"))
    ap.add_argument("--per-source", type=int, default=40)
    ap.add_argument("--split", default="test")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)  # a 2-core machine shared with others: one core, as one worker process uses
    checkpoint = Path(args.checkpoint)
    demo = not checkpoint.is_file()
    if demo:
        print(f"{checkpoint} not found: using the demo model", flush=True)
        checkpoint = demo_checkpoint(Path(args.work))
    predictor = Predictor(checkpoint, device="cpu")
    predictor.warm_up((9, 1))
    rng = random.Random(args.seed)
    out: dict[str, Any] = {"per_source": {}}
    for source in SOURCES:
        samples = [s for s in load_samples(Path(args.data) / source) if s.split == args.split]
        picked = rng.sample(samples, min(args.per_source, len(samples)))
        flips = {name: 0 for name in STABILITY_NAMES}
        flips_by_class: dict[str, dict[str, int]] = {}
        stable_all, correct, costs = 0, 0, []
        for s in picked:
            raw = s.read_bytes()
            t0 = time.perf_counter()
            result = judge_reshares(predictor, raw)
            costs.append((time.perf_counter() - t0) * 1e3)
            correct += result.label == s.label
            stable_all += result.n_stable == len(result.results)
            per_class = flips_by_class.setdefault(s.label, {name: 0 for name in STABILITY_NAMES} | {"n": 0})
            per_class["n"] += 1
            for r in result.results:
                flips[r["transform"]] += r["flipped"]
                per_class[r["transform"]] += r["flipped"]
        n = len(picked)
        out["per_source"][source] = {
            "n": n, "accuracy_on_originals": correct / n, "stable_under_all": stable_all / n,
            "flip_rate": {k: v / n for k, v in flips.items()}, "flips_by_class": flips_by_class,
            "cost_ms_per_image": {"p50": float(np.percentile(costs, 50)), "p95": float(np.percentile(costs, 95)),
                                  "mean": float(np.mean(costs))}}
        print(source, json.dumps(out["per_source"][source]["flip_rate"]), flush=True)
    out["meta"] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
        "machine": f"{platform.machine()} CPU, torch threads 1, 2-core VM shared with other engineers' jobs",
        "checkpoint": str(checkpoint), "demo_model": demo, "model_name": predictor.meta.name if hasattr(
            predictor.meta, "name") else None, "input_size": predictor.meta.preprocess.input_size,
        "split": args.split, "seed": args.seed, "transforms": list(STABILITY_NAMES)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
