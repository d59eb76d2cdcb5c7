"""bf16 autocast against fp32 training in the recipe (issue 17, second bullet): the measurement that
decides ``ml.train.CPU_AUTO_BF16``. Results and the decision: benchmarks/bf16_training.md.

Runs the recipe (cifake only, 2 epochs, the recipe's defaults otherwise) once per seed and training
precision, one after another, interleaved (fp32 seed 0, bf16 seed 0, fp32 seed 1, bf16 seed 1) so
that a drift in the machine's load touches both precisions alike, then collects from each model card
the cifake test metrics, the training wall and CPU seconds and the precision the run recorded::

    VERITY_TORCH_THREADS=2 nice -n 5 python benchmarks/bf16_training.py --runs /work/runs/bf16train \\
        --json benchmarks/precision_results/bf16_training_recipe_20261127.json

It refuses to run where bf16 is not native on the CPU (``ml.precision.native_precisions``): bf16 is
emulated there, much slower, and ``auto`` trains in fp32 on such a CPU whatever the comparison says.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from ml.precision import cpu_features, native_precisions  # noqa: E402
from run_record import cpu_model  # noqa: E402  (a sibling: the script's folder is on sys.path)

ORDER = [("fp32", 0), ("bf16", 0), ("fp32", 1), ("bf16", 1)]


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
    lines = [json.loads(x) for x in (runs / name / "metrics.jsonl").read_text().splitlines() if x.strip()]
    epochs = [e for e in lines if e.get("event") == "epoch"]
    return {"epoch_end_elapsed_s": [e["elapsed_s"] for e in epochs],
            "epoch_val": [{"val_loss": e["val_loss"], "val_accuracy": e["val_accuracy"]} for e in epochs],"cifake_test": {k: m[k] for k in ("n", "accuracy", "precision", "recall", "f1", "roc_auc", "ece",
                                              "threshold")},
            "training_seconds": rec["training_seconds"], "training_cpu_seconds": rec.get("training_cpu_seconds"),
            "train_precision": rec.get("train_precision"), "card_command": rec["command"],
            "val_ece": card["calibration"].get("val_ece")}


def table(summary: dict[str, Any]) -> str:
    """The markdown table of benchmarks/bf16_training.md and the decision rule's verdict."""
    rows = ["| run | started (UTC) | cifake acc | precision | recall | ROC-AUC | ECE | threshold | training wall s | "
            "training CPU s | load avg before / after (1 min) | trained in |", "|---" * 12 + "|"]
    runs = summary["runs"]
    for name in (f"{p}_{s}" for p, s in ORDER):
        r = runs.get(name)
        if not r or "cifake_test" not in r:
            rows.append(f"| {name} | not run | | | | | | | | | | |")
            continue
        m, tp = r["cifake_test"], r.get("train_precision") or {}
        rows.append(f"| {name} | {r.get('started_utc', '')[11:16]} | {m['accuracy']:.4f} | {m['precision']:.4f} | "
                    f"{m['recall']:.4f} | {m['roc_auc']:.4f} | {m['ece']:.4f} | {m['threshold']:.3f} | "
                    f"{r['training_seconds']:.0f} | {r['training_cpu_seconds']:.0f} | "
                    f"{r['loadavg_before'][0]:.2f} / {r['loadavg_after'][0]:.2f} | "
                    f"{tp.get('precision')} ({tp.get('logits_dtype')}) |")
    done = {p: [runs[f"{p}_{s}"] for s in (0, 1) if "cifake_test" in runs.get(f"{p}_{s}", {})] for p in ("fp32", "bf16")}
    if len(done["fp32"]) < 2 or len(done["bf16"]) < 2:
        return "\n".join(rows) + "\n\nThe rule needs both seeds of both precisions: not decided by these runs."

    def mean(p: str, key: str) -> float:
        return sum(r["cifake_test"][key] if key in r["cifake_test"] else r[key] for r in done[p]) / 2

    spread = abs(done["fp32"][0]["cifake_test"]["accuracy"] - done["fp32"][1]["cifake_test"]["accuracy"])
    acc_ok = mean("bf16", "accuracy") >= mean("fp32", "accuracy") - max(spread, 0.005)
    auc_ok = mean("bf16", "roc_auc") >= mean("fp32", "roc_auc") - 0.005
    cpu_ok = mean("bf16", "training_cpu_seconds") < mean("fp32", "training_cpu_seconds")
    return "\n".join(rows) + (
        f"\n\nMeans fp32 / bf16: accuracy {mean('fp32', 'accuracy'):.4f} / {mean('bf16', 'accuracy'):.4f} "
        f"(fp32 seed spread {spread:.4f}): {'ok' if acc_ok else 'fails'}; ROC-AUC {mean('fp32', 'roc_auc'):.4f} / "
        f"{mean('bf16', 'roc_auc'):.4f}: {'ok' if auc_ok else 'fails'}; training CPU s "
        f"{mean('fp32', 'training_cpu_seconds'):.0f} / {mean('bf16', 'training_cpu_seconds'):.0f}: "
        f"{'ok' if cpu_ok else 'fails'}. Adopt bf16 as the CPU default: {'yes' if acc_ok and auc_ok and cpu_ok else 'no'}.")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="/work/runs/bf16train", help="folder for the run folders (never commit)")
    p.add_argument("--data", default="/work/shared/data")
    p.add_argument("--json", required=True, help="where to write the summary")
    p.add_argument("--collect-only", action="store_true", help="only read the cards of runs already made")
    p.add_argument("--table", action="store_true", help="print the markdown table of --json and stop")
    args = p.parse_args()
    if args.table:
        print(table(json.loads(Path(args.json).read_text())))
        return
    cpu = torch.device("cpu")
    if not args.collect_only and "bf16" not in native_precisions(cpu):
        raise SystemExit(f"bf16 is not native on this CPU ({torch.backends.cpu.get_cpu_capability()}): the bf16 runs "
                         "would be emulated, and auto trains in fp32 here anyway. Run this on a CPU with AVX512-BF16 "
                         "or AMX.")
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    out = Path(args.json)
    summary: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    summary.setdefault("machine", f"{platform.node()}: {os.cpu_count()} CPUs, {cpu_model()}")
    summary.setdefault("torch_threads", os.environ.get("VERITY_TORCH_THREADS", ""))
    summary.setdefault("cpu_features", cpu_features().to_dict())
    summary.setdefault("cpu_capability", torch.backends.cpu.get_cpu_capability())
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
