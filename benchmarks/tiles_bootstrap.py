"""Paired bootstrap of the tile-rule ablation in benchmarks/results/tiles.json: for each budget,
ROC-AUC of every rule minus that of the served rule, and, under the served rule, of every budget
minus the served budget, each with a 95 % interval over images resampled with replacement (1,000
draws). AUC needs no threshold or temperature, so nothing here is fitted
on the images it is measured on.

Usage:

    .venv/bin/python benchmarks/tiles_bootstrap.py benchmarks/results/tiles.json \
        --out benchmarks/results/tiles_bootstrap.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.tiling import DEFAULT_RULE, RULES, aggregate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results")
    ap.add_argument("--out", required=True)
    ap.add_argument("--draws", type=int, default=1000)
    args = ap.parse_args()
    data = json.loads(Path(args.results).read_text())
    rng = np.random.default_rng(0)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    budgets_out: dict[str, dict[str, Any]] = {}
    serve_budget = int(data.get("served", {}).get("budget", 64))
    for split, rows in data["per_image"].items():
        y = np.array([r["y"] for r in rows])
        idx = [rng.integers(0, len(y), len(y)) for _ in range(args.draws)]
        idx = [i for i in idx if len(set(y[i])) == 2]
        served = {b: np.array([aggregate(np.array(r["margins"][str(b)]), 1.0, DEFAULT_RULE) for r in rows])
                  for b in data["budgets"]}
        for b in data["budgets"]:
            scores = {rule: served[b] if rule == DEFAULT_RULE else
                      np.array([aggregate(np.array(r["margins"][str(b)]), 1.0, rule) for r in rows])
                      for rule in RULES}
            ref = scores[DEFAULT_RULE]
            for rule, s in scores.items():
                diffs = [roc_auc_score(y[i], s[i]) - roc_auc_score(y[i], ref[i]) for i in idx]
                out.setdefault(split, {}).setdefault(str(b), {})[rule] = {
                    "auc": float(roc_auc_score(y, s)),
                    "auc_minus_served": float(roc_auc_score(y, s) - roc_auc_score(y, ref)),
                    "ci95": [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]}
            if serve_budget in served:  # the served rule at this budget against the served budget
                base = served[serve_budget]
                diffs = [roc_auc_score(y[i], ref[i]) - roc_auc_score(y[i], base[i]) for i in idx]
                budgets_out.setdefault(split, {})[str(b)] = {
                    "auc": float(roc_auc_score(y, ref)),
                    "auc_minus_served_budget": float(roc_auc_score(y, ref) - roc_auc_score(y, base)),
                    "ci95": [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]}
    Path(args.out).write_text(json.dumps({"command": " ".join(sys.argv), "served_rule": DEFAULT_RULE,
                                          "draws": len(idx), "results": out, "served_budget": serve_budget,
                                          "budgets_against_served": budgets_out}, indent=1))
    for split, budgets in out.items():
        for b, rules in budgets.items():
            print(split, b, {r: (round(v["auc"], 3), [round(c, 3) for c in v["ci95"]]) for r, v in rules.items()})
    for split, per_budget in budgets_out.items():
        print(split, f"{DEFAULT_RULE} against budget {serve_budget}:",
              {b: (round(v["auc_minus_served_budget"], 3), [round(c, 3) for c in v["ci95"]])
               for b, v in per_budget.items()})


if __name__ == "__main__":
    main()
