"""Whole-image analysis on real data: tile budget x aggregation rule, calibration of the served
rule, and Grad-CAM faithfulness per source (issue #12 items 1 and 6, issue #18 item 6).

For every image of the validation split of ``unsplash-gemini`` and of ``commons-zimage`` (never
trained on), the tiles of each budget in ``--budgets`` are classified once (boxes shared between
budgets are classified once) and their logit margins kept. Then, per (budget, rule):

* the temperature and the threshold are fitted on the validation images *under that rule*
  (ml.calibration.fit_rule_temperature, ml.calibration.choose_threshold);
* validation metrics (in-sample for the threshold and the temperature: label them so) and
  commons-zimage metrics (out of sample: calibration fitted on unsplash-gemini val) are computed.

Then, with the chosen budget and rule, ``ml.wholeimage.analyse`` runs as the worker runs it
(stitched map + per-image faithfulness check), per source: the share of images whose map is
faithful, the mean drops, and the time the check adds.

Usage (writes the raw per-image margins and the tables as JSON):

    .venv/bin/python benchmarks/tiles.py --checkpoint CKPT --data ../shared/data \
        --budgets 1,4,16,64,0 --out benchmarks/results/tiles.json

A budget of 0 means "the full grid" (every tile needed to cover the image).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.calibration import choose_threshold, fit_rule_temperature  # noqa: E402
from ml.data.sources import Sample, load_samples  # noqa: E402
from ml.imageio import decode_image  # noqa: E402
from ml.metrics import binary_metrics  # noqa: E402
from ml.predict import Predictor  # noqa: E402
from ml.tiling import RULES, aggregate, plan_tiles  # noqa: E402
from ml.wholeimage import analyse, tile_forward  # noqa: E402
from run_record import cpu_model  # noqa: E402  (a sibling: the script's folder is on sys.path)

FULL = 10**9  # "budget 0": no thinning


def margins_for(predictor: Predictor, sample: Sample, budgets: list[int]) -> dict[str, Any]:
    im = decode_image(sample.read_bytes()).convert("RGB")
    size = predictor.meta.preprocess.input_size
    plans = {b: plan_tiles(im.width, im.height, size, b or FULL) for b in budgets}
    unique: dict[tuple[int, int], int] = {}
    cuts: list[Any] = []
    for plan in plans.values():
        for c in plan.cuts:
            if (c.left, c.top) not in unique:
                unique[(c.left, c.top)] = len(cuts)
                cuts.append(c)
    # One plan's scale is every plan's (it depends on the image only).
    scale = next(iter(plans.values())).scale
    src = im if scale == 1 else im.resize((im.width * scale, im.height * scale))
    crops = [src.crop((c.left, c.top, c.left + size, c.top + size)) for c in cuts]
    z, _ = tile_forward(predictor.model, predictor.meta.preprocess, predictor.device, crops, with_cams=False)
    return {"ref": sample.ref, "source": sample.source, "y": sample.target, "width": im.width, "height": im.height,
            "margins": {str(b): [float(z[unique[(c.left, c.top)]]) for c in plan.cuts] for b, plan in plans.items()},
            "full_grid": next(iter(plans.values())).full_grid}


def table(val: list[dict[str, Any]], test: list[dict[str, Any]], budgets: list[int]) -> list[dict[str, Any]]:
    rows = []
    yv = np.array([r["y"] for r in val])
    yt = np.array([r["y"] for r in test])
    for b in budgets:
        mv = [np.array(r["margins"][str(b)]) for r in val]
        mt = [np.array(r["margins"][str(b)]) for r in test]
        for rule in RULES:
            t = fit_rule_temperature(mv, yv, rule)
            pv = np.array([aggregate(z, t, rule) for z in mv])
            thr = choose_threshold(torch.as_tensor(yv), torch.as_tensor(pv))
            pt = np.array([aggregate(z, t, rule) for z in mt])
            rows.append({"budget": b, "rule": rule, "temperature": t, "threshold": thr,
                         "mean_tiles": float(np.mean([len(z) for z in mv])),
                         "val_in_sample": binary_metrics(yv, pv, thr), "commons_zimage": binary_metrics(yt, pt, thr)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--budgets", default="1,4,16,64,0")
    ap.add_argument("--limit", type=int, default=0, help="at most this many images per source (0: all)")
    ap.add_argument("--serve-budget", type=int, default=64)
    ap.add_argument("--serve-rule", default="mean_logit")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    predictor = Predictor(args.checkpoint, device="cpu")
    data = Path(args.data)
    val = [s for s in load_samples(data / "unsplash-gemini") if s.split == "val"]
    test = load_samples(data / "commons-zimage")
    if args.limit:  # balanced: the first N/2 of each class
        val = [s for lab in ("real", "ai_generated") for s in [x for x in val if x.label == lab][:args.limit // 2]]
        test = [s for lab in ("real", "ai_generated") for s in [x for x in test if x.label == lab][:args.limit // 2]]
    started, load_start = time.time(), os.getloadavg()
    rows_val: list[dict[str, Any]] = []
    rows_test: list[dict[str, Any]] = []
    for name, samples, rows in (("unsplash-gemini val", val, rows_val), ("commons-zimage", test, rows_test)):
        t0 = time.perf_counter()
        for i, s in enumerate(samples):
            rows.append(margins_for(predictor, s, budgets))
            if i % 20 == 0:
                print(f"{name}: {i + 1}/{len(samples)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    ablation = table(rows_val, rows_test, budgets)
    # Served path: stitched map + per-image faithfulness, per source, with the chosen rule.
    faith: dict[str, Any] = {}
    chosen = next(r for r in ablation if r["budget"] == args.serve_budget and r["rule"] == args.serve_rule)
    predictor.meta.temperature, predictor.meta.threshold = chosen["temperature"], chosen["threshold"]
    for name, samples in (("unsplash-gemini val", val), ("commons-zimage", test)):
        drops_gc, drops_rnd, faithful, flat, t_check, t_total = [], [], [], 0, [], []
        for s in samples:
            im = decode_image(s.read_bytes())
            t0 = time.perf_counter()
            pred = analyse(predictor, [im], max_tiles=args.serve_budget, rule=args.serve_rule)[0]
            t_total.append((time.perf_counter() - t0) * 1e3)
            t_check.append(pred.timings_ms.get("faithfulness", 0.0))
            f = pred.faithfulness or {}
            if f.get("flat"):
                flat += 1
            else:
                drops_gc.append(f["drop_gradcam"])
                drops_rnd.append(f["drop_random"])
            faithful.append(bool(f.get("faithful")))
        d = np.array(drops_gc) - np.array(drops_rnd)
        rng = np.random.default_rng(0)
        boots = [float(np.mean(rng.choice(d, len(d)))) for _ in range(1000)] if len(d) else []
        faith[name] = {"n": len(samples), "flat_maps": flat, "faithful_fraction": float(np.mean(faithful)),
                       "mean_drop_gradcam_logodds": float(np.mean(drops_gc)) if drops_gc else None,
                       "mean_drop_random_logodds": float(np.mean(drops_rnd)) if drops_rnd else None,
                       "mean_difference_ci95": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]
                       if boots else None,
                       "ms_per_image_total": float(np.median(t_total)), "ms_per_image_faithfulness_check":
                       float(np.median(t_check))}
    out = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "machine": f"{platform.node()} ({platform.machine()}): {os.cpu_count()} vCPU {cpu_model()}, "
                      f"torch threads {torch.get_num_threads()}",
           "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
           "command": " ".join(sys.argv), "checkpoint": args.checkpoint, "checkpoint_name": predictor.meta.name,
           "input_size": predictor.meta.preprocess.input_size, "budgets": budgets, "elapsed_s": time.time() - started,
           "ablation": ablation, "served": {"budget": args.serve_budget, "rule": args.serve_rule,
                                            "faithfulness": faith}, "per_image": {"val": rows_val, "commons": rows_test}}
    Path(args.out).write_text(json.dumps(out, indent=1))
    for r in ablation:
        v, c = r["val_in_sample"], r["commons_zimage"]
        print(f"budget {r['budget']:>3} {r['rule']:<13} T={r['temperature']:.2f} thr={r['threshold']:.3f} "
              f"val auc={v['roc_auc']:.3f} acc={v['accuracy']:.3f} ece={v['ece']:.3f} | "
              f"commons auc={c['roc_auc']:.3f} acc={c['accuracy']:.3f} ece={c['ece']:.3f}")
    print(json.dumps(faith, indent=1))


if __name__ == "__main__":
    main()
