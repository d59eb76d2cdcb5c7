"""bf16 autocast against fp32 training in the recipe (issue 17, second bullet): the measurement that
decides ``ml.train.CPU_AUTO_BF16``. Results and the decision: benchmarks/bf16_training.md.

Runs the recipe (cifake only, 2 epochs, the recipe's defaults otherwise) once per seed and training
precision, one after another, interleaved (fp32 seed 0, bf16 seed 0, fp32 seed 1, bf16 seed 1) so
that a drift in the machine's load touches both precisions alike, then collects from each model card
the cifake test metrics, the training wall and CPU seconds and the precision the run recorded::

    VERITY_TORCH_THREADS=2 nice -n 5 python benchmarks/bf16_training.py --runs /work/runs/bf16train \\
        --json benchmarks/precision_results/bf16_training_recipe_20261127.json

``--collect-only`` re-reads the cards of runs already made. Each run's command line is the recipe's
own (stored in its card); the run folders hold checkpoints: never commit them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ORDER = [("fp32", 0), ("bf16", 0), ("fp32", 1), ("bf16", 1)]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_one(precision: str, seed: int, runs: Path, data: str) -> dict[str, Any]:
    name = f"{precision}_{seed}"
    cmd = [sys.executable, "-m", "ml", "recipe", "--data", data, "--sources", "cifake", "--epochs", "2",
           "--jpeg-prob", "0.5", "--num-workers", "1", "--quiet", "--no-precision-check", "--seed", str(seed),
           "--train-precision", precision, "--out", str(runs / name), "--name", name]
    load_before = os.getloadavg()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0, c0 = time.perf_counter(), _children_cpu()
    with open(runs / f"{name}.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    return {"name": name, "started_utc": started, "process_wall_s": time.perf_counter() - t0,
            "process_cpu_s": _children_cpu() - c0, "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            "command": " ".join(cmd[1:])}


def collect(runs: Path, name: str) -> dict[str, Any]:
    card = json.loads((runs / name / "model_card.json").read_text())
    m = card["metrics"]["cifake"]
    rec = card["recipe"]
    return {"cifake_test": {k: m[k] for k in ("n", "accuracy", "precision", "recall", "f1", "roc_auc", "ece",
                                              "threshold")},
            "training_seconds": rec["training_seconds"], "training_cpu_seconds": rec.get("training_cpu_seconds"),
            "train_precision": rec.get("train_precision"), "card_command": rec["command"],
            "val_ece": card["calibration"].get("val_ece")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="/work/runs/bf16train", help="folder for the run folders (never commit)")
    p.add_argument("--data", default="/work/shared/data")
    p.add_argument("--json", required=True, help="where to write the summary")
    p.add_argument("--collect-only", action="store_true", help="only read the cards of runs already made")
    args = p.parse_args()
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    out = Path(args.json)
    summary: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    summary.setdefault("machine", f"{platform.node()}: {os.cpu_count()} CPUs, {_cpu_model()}")
    summary.setdefault("torch_threads", os.environ.get("VERITY_TORCH_THREADS", ""))
    results = summary.setdefault("runs", {})
    for precision, seed in ORDER:
        name = f"{precision}_{seed}"
        if not args.collect_only:
            results[name] = run_one(precision, seed, runs, args.data)
        if (runs / name / "model_card.json").is_file():
            results.setdefault(name, {}).update(collect(runs, name))
        out.write_text(json.dumps(summary, indent=2, sort_keys=True))
        print(name, json.dumps(results.get(name, {}).get("cifake_test")), flush=True)


if __name__ == "__main__":
    main()
