"""The detector benchmark of issue 3: train ResNet50 twice (without and with the robustness
augmentations of Wang et al. 2020), evaluate each on the test split, measure Grad-CAM
faithfulness and accuracy under corruptions, and write ``results.json`` and ``results.md``.

Usage:

    .venv/bin/python benchmarks/ml_benchmark.py --out benchmarks/results [--data DATA] [options]

``--data`` is anything ``ml.data.load_samples`` reads (folder layout, manifest CSV, a
``shared/data`` source or folder of sources). Without it the synthetic demo dataset
(``ml/data/demo.py``) is generated under ``--work`` and the output says so: numbers on it are about
the demo's transposed-convolution traces, not about real generators.

Threshold and temperature are chosen on the validation split by ``ml.train``; the test split is
only evaluated. Checkpoints and generated data go under ``--work`` (default ``var/ml-benchmark``),
never under ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from ml.config import PreprocessConfig, TrainConfig  # noqa: E402
from ml.corruptions import robustness, standard_corruptions  # noqa: E402
from ml.data.demo import generate_demo_dataset  # noqa: E402
from ml.data.sources import load_samples  # noqa: E402
from ml.evaluate import _decode, evaluate  # noqa: E402
from ml.predict import Predictor  # noqa: E402
from ml.splits import assign_splits  # noqa: E402
from ml.train import train  # noqa: E402

VARIANTS = {"without_aug": (0.0, 0.0), "with_aug": None}  # with_aug: --jpeg-prob / --blur-prob


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _log(msg: str) -> None:
    print(f"[{dt.datetime.now(dt.timezone.utc):%H:%M:%S}Z] {msg}", flush=True)


def run_variant(name: str, data: Path, work: Path, args: argparse.Namespace, jpeg_prob: float,
                blur_prob: float) -> dict[str, Any]:
    config = TrainConfig(
        data=str(data), out_dir=str(work / "runs" / name), epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, seed=args.seed, device=args.device, jpeg_prob=jpeg_prob, blur_prob=blur_prob,
        preprocess=PreprocessConfig(input_size=args.input_size, train_crop=args.train_crop))
    _log(f"{name}: training (jpeg_prob={jpeg_prob}, blur_prob={blur_prob}) into {config.out_dir}")
    load_before = os.getloadavg()
    t0, c0 = time.monotonic(), _cpu_seconds()
    result = train(config, show_bar=False, is_demo=args.data is None, name=f"benchmark-{name}")
    train_wall, train_cpu = time.monotonic() - t0, _cpu_seconds() - c0
    load_after = os.getloadavg()
    _log(f"{name}: trained in {train_wall:.1f} s wall; evaluating on test")
    t1 = time.monotonic()
    ev = evaluate(result.checkpoint, data, split="test", seed=args.seed, device=args.device,
                  faithfulness=True, out_dir=work / "eval" / name)
    eval_wall = time.monotonic() - t1
    t2 = time.monotonic()
    samples = [s for s in assign_splits(load_samples(data), seed=args.seed) if s.split == "test"]
    predictor = Predictor(result.checkpoint, device=args.device)
    try:
        rob = robustness(predictor, (_decode(s) for s in samples), [s.target for s in samples],
                         standard_corruptions())
    finally:
        predictor.close()
    rob_wall = time.monotonic() - t2
    _log(f"{name}: test accuracy {ev['accuracy']:.3f}; robustness done in {rob_wall:.1f} s")
    keep = ("n", "threshold", "accuracy", "precision", "recall", "f1", "roc_auc", "average_precision",
            "ece", "confusion_matrix", "temperature")
    return {
        "config": {k: v for k, v in config.to_dict().items() if k not in ("data", "out_dir")},
        "counts": result.metrics.get("counts"),
        "val": result.metrics.get("val"),
        "test": {k: ev[k] for k in keep if k in ev},
        "faithfulness": ev.get("faithfulness"),
        "robustness": rob,
        "time": {"train_wall_s": train_wall, "train_cpu_s": train_cpu, "evaluate_with_faithfulness_wall_s": eval_wall,
                 "robustness_wall_s": rob_wall, "loadavg_before_train": list(load_before),
                 "loadavg_after_train": list(load_after)},
    }


def _f(x: Any, nd: int = 3) -> str:
    return "—" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def markdown(res: dict[str, Any]) -> str:
    v = res["variants"]
    names = list(v)
    lines = [f"# ML benchmark results ({res['date']})", ""]
    lines += [f"* data: `{res['data']}`" + (" — **generated synthetic demo dataset** "
              "(`ml/data/demo.py`), not real images" if res["generated_demo_data"] else "")]
    lines += [f"* command: `{res['command']}`",
              f"* machine: {res['machine']['cpus']} CPUs, torch {res['machine']['torch']}, "
              f"device {res['machine']['device']}, {res['machine']['platform']}",
              f"* target (issue 3): accuracy >= 0.97, precision >= 0.96, recall >= 0.96 on test", "",
              "## Test metrics (threshold and temperature chosen on validation)", "",
              "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key in ("n", "accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "ece",
                "threshold", "temperature", "confusion_matrix"):
        lines.append(f"| {key} | " + " | ".join(_f(v[n]["test"].get(key)) for n in names) + " |")
    lines.append("| meets target | " + " | ".join(
        "yes" if v[n]["meets_target"] else "no" for n in names) + " |")
    lines += ["", "## Time", "", "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key in ("train_wall_s", "train_cpu_s", "evaluate_with_faithfulness_wall_s", "robustness_wall_s"):
        lines.append(f"| {key} | " + " | ".join(f"{v[n]['time'][key]:.1f}" for n in names) + " |")
    for key in ("loadavg_before_train", "loadavg_after_train"):
        lines.append(f"| {key} (1/5/15 min) | " + " | ".join(
            "/".join(f"{x:.2f}" for x in v[n]["time"][key]) for n in names) + " |")
    lines += ["", "## Robustness: test accuracy after each corruption", "",
              "| corruption | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for c in v[names[0]]["robustness"]["results"]:
        lines.append(f"| {c} | " + " | ".join(_f(v[n]["robustness"]["results"][c]["accuracy"]) for n in names) + " |")
    lines += ["", "## Grad-CAM faithfulness (top 20% of the map blurred vs random blobs of the same area)", "",
              "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, subset in (("all test images", None), ("predicted AI-generated", "ai_predicted")):
        for m in ("n", "mean_drop_gradcam", "mean_drop_random", "fraction_gradcam_exceeds_random"):
            vals = []
            for n in names:
                f = v[n]["faithfulness"] or {}
                f = f.get(subset, {}) if subset else f
                vals.append(_f(f.get(m)))
            lines.append(f"| {label}: {m} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="dataset (default: generate the demo dataset under --work)")
    p.add_argument("--out", required=True, help="folder for results.json and results.md")
    p.add_argument("--work", default=str(ROOT / "var" / "ml-benchmark"), help="folder for data, runs, plots")
    p.add_argument("--pairs", type=int, default=600, help="demo pairs when generating (default 600)")
    p.add_argument("--size", type=int, default=128, help="demo image side when generating (default 128)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--input-size", type=int, default=128)
    p.add_argument("--train-crop", type=int, default=64)
    p.add_argument("--jpeg-prob", type=float, default=0.5, help="JPEG augmentation probability of with_aug")
    p.add_argument("--blur-prob", type=float, default=0.5, help="blur augmentation probability of with_aug")
    p.add_argument("--variants", default="without_aug,with_aug")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = p.parse_args(argv)

    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    if args.data is None:
        data = work / f"demo-data-{args.pairs}x{args.size}-seed{args.seed}"
        if not (data / "MANIFEST.csv").is_file():
            generate_demo_dataset(data, pairs=args.pairs, size=args.size, seed=args.seed)
        print(f"NOTE: no --data given: generated the SYNTHETIC demo dataset ({args.pairs} real/synthetic "
              f"pairs of {args.size} px, ml/data/demo.py) at {data}. Results are about the demo's "
              "transposed-convolution traces, not real AI generators.", flush=True)
    else:
        data = Path(args.data)
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "data": str(data), "generated_demo_data": args.data is None,
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "device": args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"),
                    "platform": platform.platform(), "python": platform.python_version()},
        "target": {"accuracy": 0.97, "precision": 0.96, "recall": 0.96},
        "variants": {},
    }
    for name in args.variants.split(","):
        if name not in VARIANTS:
            p.error(f"unknown variant {name!r}")
        jp, bp = VARIANTS[name] or (args.jpeg_prob, args.blur_prob)
        r = run_variant(name, data, work, args, jp, bp)
        t = r["test"]
        r["meets_target"] = bool(t["accuracy"] >= 0.97 and t["precision"] >= 0.96 and t["recall"] >= 0.96)
        results["variants"][name] = r
        # Write after every variant so a partial run leaves its numbers.
        (out / "results.json").write_text(json.dumps(results, indent=2))
        (out / "results.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
