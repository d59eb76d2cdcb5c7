"""Evaluate a checkpoint trained with the recipe's manifest and attach its model card (the part of
``python -m ml recipe`` after training), and keep the card as a benchmark result.

Used on 2026-11-26 for the served checkpoint, which was trained with ``python -m ml train`` on the
recipe's manifest (``ml.recipe.training_samples``) because the 2-core VM, shared with seven other
engineers' jobs (load average 15-25), left no time to run training and evaluation in one go:

    python benchmarks/detector_finish_run.py --checkpoint /work/ckpt/h12/main/model.pt \\
        --training-seconds S --training-cpu-seconds C --command "..." --out benchmarks/detector/served_model_card.json
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.checkpoint import meta_from_payload, read_checkpoint
from ml.recipe import RecipeConfig, finish_recipe, training_samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--repeat", default="unsplash-gemini=4")
    ap.add_argument("--val-per-class", type=int, default=100)
    ap.add_argument("--eval-tiles", type=int, default=16)
    ap.add_argument("--eval-per-class", type=int, default=0)
    ap.add_argument("--robustness-per-class", type=int, default=50)
    ap.add_argument("--training-seconds", type=float, default=None)
    ap.add_argument("--training-cpu-seconds", type=float, default=None)
    ap.add_argument("--command", default="", help="the training command that made the checkpoint")
    ap.add_argument("--out", required=True, help="benchmark JSON: the model card")
    ap.add_argument("--shortcut-from", default=None,
                    help="a model card JSON of the same data whose shortcut_baseline to reuse (it does not depend on the model)")
    args = ap.parse_args()
    ckpt = Path(args.checkpoint)
    meta = meta_from_payload(read_checkpoint(ckpt))
    tc = meta.train_config
    repeat = {k: int(v) for k, v in (p.split("=") for p in args.repeat.split(",") if p)}
    known = {f.name for f in fields(RecipeConfig)}
    cfg = RecipeConfig(**{k: v for k, v in {
        "data": args.data, "out_dir": str(ckpt.parent), "name": meta.name, "repeat": repeat,
        "val_per_class": args.val_per_class, "input_size": meta.preprocess.input_size,
        "train_crop": meta.preprocess.train_crop, "epochs": tc.get("epochs", 1), "max_steps": tc.get("max_steps", 0),
        "batch_size": tc.get("batch_size", 32), "lr": tc.get("lr", 1e-3), "warmup_epochs": tc.get("warmup_epochs", 0.0),
        "jpeg_prob": tc.get("jpeg_prob", 0.0), "num_workers": tc.get("num_workers", 0), "seed": tc.get("seed", 0),
        "eval_tiles": args.eval_tiles, "eval_per_class": args.eval_per_class,
        "robustness_per_class": args.robustness_per_class}.items() if k in known})
    samples, summary = training_samples(args.data, repeat=repeat, val_per_class=args.val_per_class,
                                        include_test=False, seed=cfg.seed)
    machine = f"{platform.node()} ({platform.machine()}), 2-core VM shared with 7 other engineers' jobs"
    card = finish_recipe(cfg, ckpt, summary, samples, training_seconds=args.training_seconds,
                         training_cpu_seconds=args.training_cpu_seconds, command=args.command, machine=machine,
                         shortcut=json.loads(Path(args.shortcut_from).read_text())["shortcut_baseline"]
                         if args.shortcut_from else None)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(card.to_dict(), indent=2, sort_keys=True))
    shutil.copy(ckpt.parent / "model_card.md", Path(args.out).with_suffix(".md"))
    print(json.dumps({k: {m: v.get(m) for m in ("n", "accuracy", "roc_auc", "ece")} for k, v in card.metrics.items()}, indent=1))


if __name__ == "__main__":
    main()
