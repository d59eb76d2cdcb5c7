"""Memory and time of whole-image analysis of one 12-megapixel photo (4000 x 3000 JPEG), per tile
budget, as the worker runs it: decode, tile, classify + margin Grad-CAM (ml.wholeimage), stitch,
per-image faithfulness check, store the map (PNG) and draw the overlay (as on first view).

Each budget runs in a fresh Python process so its peak resident memory (ru_maxrss) is its own.
The weights are untrained (time and memory do not depend on them); the architecture, input size
and code path are those served.

Usage:

    .venv/bin/python benchmarks/tiles_12mp.py --input-size 224 --budgets 16,64,256 \
        --out benchmarks/results/tiles_12mp.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def photo_jpeg(path: Path) -> None:
    """A deterministic 4000 x 3000 photo-like JPEG (smooth gradients + fine noise, q90)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:3000, 0:4000].astype(np.float32)
    base = np.stack([128 + 60 * np.sin(xx / 300), 128 + 60 * np.cos(yy / 250), 128 + 40 * np.sin((xx + yy) / 400)], -1)
    im = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(im).save(path, format="JPEG", quality=90)


def child(args: argparse.Namespace) -> None:
    import resource

    import torch

    from ml.checkpoint import CheckpointMeta, save_checkpoint
    from ml.config import ModelConfig, PreprocessConfig
    from ml.imageio import decode_image
    from ml.model import build_model
    from ml.predict import Predictor
    from ml.tilemaps import map_png
    from ml.wholeimage import analyse
    from verification.services.overlays import draw

    torch.manual_seed(0)
    ckpt = Path(args.workdir) / f"untrained-{args.input_size}.pt"
    if not ckpt.exists():
        save_checkpoint(ckpt, build_model(ModelConfig()), CheckpointMeta(
            model=ModelConfig(), preprocess=PreprocessConfig(input_size=args.input_size, train_crop=args.input_size)))
    # An explicit precision: the untrained checkpoint has no agreement record, so ``auto`` would serve fp32.
    predictor = Predictor(ckpt, device="cpu", precision=args.precision,
                          calibration_data=args.calibration_data or None)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data = (Path(args.workdir) / "photo.jpg").read_bytes()
    t = {}
    t0 = time.perf_counter()
    im = decode_image(data)
    t["decode_ms"] = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    pred = analyse(predictor, [im], max_tiles=args.budget, chunk=args.chunk)[0]
    t["analyse_ms"] = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    assert pred.heatmap is not None, "analyse explains by default"
    png = map_png(pred.heatmap)
    t["map_png_ms"] = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    overlay = draw(im, png)
    buf = io.BytesIO()
    overlay.save(buf, format="PNG", compress_level=1)
    t["overlay_ms"] = (time.perf_counter() - t0) * 1e3
    print(json.dumps({"budget": args.budget, "tiles": len(pred.boxes), "full_grid": pred.full_grid,
                      "judged_fraction": pred.judged_fraction, "chunk": args.chunk, **t,
                      "stages_ms": pred.timings_ms, "map_png_bytes": len(png), "overlay_png_bytes": buf.tell(),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_after_model_load_mb": rss0 / 1024, "torch_threads": torch.get_num_threads(),
                      "precision": predictor.precision.to_dict()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--budgets", default="16,64,256")
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--precision", choices=("fp32", "bf16", "int8"), default="fp32",
                    help="inference precision (int8 needs --calibration-data)")
    ap.add_argument("--calibration-data", default="",
                    help="int8: the dataset folder whose training images calibrate the activations")
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--budget", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.precision == "int8" and not args.calibration_data:
        ap.error("--precision int8 needs --calibration-data (a dataset folder, e.g. ../shared/data)")
    if args.child:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        django.setup()
        child(args)
        return
    results = []
    with tempfile.TemporaryDirectory() as work:
        photo_jpeg(Path(work) / "photo.jpg")
        for b in [int(x) for x in args.budgets.split(",")]:
            out = subprocess.run([sys.executable, __file__, "--child", "--budget", str(b), "--workdir", work,
                                  "--input-size", str(args.input_size), "--chunk", str(args.chunk),
                                  "--precision", args.precision, "--calibration-data", args.calibration_data],
                                 capture_output=True, text=True, cwd=ROOT, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    report = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()} {os.cpu_count()}-core VM (load average "
                         f"{Path('/proc/loadavg').read_text().split()[0]} at the end)",
              "command": " ".join(sys.argv), "image": "4000 x 3000 JPEG q90 (12 MP), synthetic", "input_size":
              args.input_size, "results": results}
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
