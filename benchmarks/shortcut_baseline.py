"""Shortcut baseline per source (issue 12, item 5): can file-level features alone tell the classes?

    python benchmarks/shortcut_baseline.py [--data ../shared/data] [--out benchmarks/detector/shortcut_baseline.json]

For each source with a train split: fit on train, pick the classifier (logistic regression or a
depth-3 tree, see ml.shortcuts) on val by ROC-AUC, report test metrics. A source with only a test
split (commons-zimage) has nothing to fit on, so it gets 5-fold stratified cross-validation within
the source (an optimistic upper bound on what a shortcut could learn there) and the train-source
classifiers applied to it unchanged. No pixels are read, only the file bytes' size and headers.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.data.sources import load_samples
from ml.metrics import binary_metrics
from ml.recipe import dedupe_across_splits
from ml.shortcuts import FEATURES, feature_matrix, shortcut_classifiers


def _metrics(y: np.ndarray, p: np.ndarray) -> dict:
    m = binary_metrics(y, p, 0.5)
    return {k: m[k] for k in ("n", "accuracy", "precision", "recall", "roc_auc")}


def run(data: str) -> dict:
    samples, dropped = dedupe_across_splits(load_samples(data))
    by_source: dict[str, list] = {}
    for s in samples:
        by_source.setdefault(s.source or "(none)", []).append(s)
    feats = {src: feature_matrix([s.read_bytes() for s in ss]) for src, ss in by_source.items()}
    out: dict = {"features": list(FEATURES), "duplicates_dropped_from_val_test": dropped, "sources": {}}
    fitted = {}
    for src, ss in sorted(by_source.items()):
        X, y = feats[src], np.array([s.target for s in ss])
        split = np.array([s.split for s in ss])
        res: dict = {"counts": {sp: int((split == sp).sum()) for sp in ("train", "val", "test")},
                     "feature_means": {lab: dict(zip(FEATURES, X[y == i].mean(0).round(3).tolist()))
                                       for i, lab in enumerate(("real", "ai_generated")) if (y == i).any()}}
        if (split == "train").any():
            tr, va, te = split == "train", split == "val", split == "test"
            scores = {}
            for name, clf in shortcut_classifiers().items():
                clf.fit(X[tr], y[tr])
                scores[name] = (binary_metrics(y[va], clf.predict_proba(X[va])[:, 1], 0.5)["roc_auc"] or 0.0, clf)
            best = max(scores, key=lambda k: scores[k][0])
            clf = scores[best][1]
            fitted[src] = (best, clf)
            res.update({"protocol": "fit on train, classifier chosen on val ROC-AUC, reported on test",
                        "classifier": best, "val_roc_auc": {k: v[0] for k, v in scores.items()},
                        "test": _metrics(y[te], clf.predict_proba(X[te])[:, 1])})
        else:
            from sklearn.model_selection import StratifiedKFold, cross_val_predict

            cv = {}
            for name, clf in shortcut_classifiers().items():
                p = cross_val_predict(clf, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                                      method="predict_proba")[:, 1]
                cv[name] = _metrics(y, p)
            res.update({"protocol": "no train split: 5-fold stratified CV within the source (upper bound)",
                        "cv": cv})
        out["sources"][src] = res
    for src, res in out["sources"].items():
        if "cv" in res:
            res["from_other_sources"] = {
                f"{other} ({name})": _metrics(np.array([s.target for s in by_source[src]]),
                                              clf.predict_proba(feats[src])[:, 1])
                for other, (name, clf) in fitted.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="benchmarks/detector/shortcut_baseline.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = run(args.data)
    result["meta"] = {"command": " ".join(sys.argv), "date": datetime.now(UTC).isoformat(timespec="seconds"),
                      "machine": f"{platform.node()} {platform.machine()}, 2-core VM shared with other jobs",
                      "seconds": round(time.perf_counter() - t0, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    for src, res in result["sources"].items():
        print(src, json.dumps(res.get("test") or res.get("cv")))


if __name__ == "__main__":
    main()
