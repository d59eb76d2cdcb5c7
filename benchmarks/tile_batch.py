"""Forward time per tile against the number of tiles per forward pass, the measurement behind
``VERITY_TILE_BATCH=0`` (ml/tilebatch.py). The worker's layout: one process per core with one
torch thread (``--threads``), ResNet50 at the served input size, each precision this CPU runs.

    PYTHONPATH=. python benchmarks/tile_batch.py --size 224 --batches 4,8,16,32,64 --rounds 5 --out OUT.json

Untrained weights: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run_record import finish, header  # noqa: E402  (a sibling: the script's folder is on sys.path)
from ml import precision  # noqa: E402
from ml.config import ModelConfig  # noqa: E402
from ml.model import build_model  # noqa: E402
from ml.tilebatch import choose_tile_batch  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batches", default="4,8,16,32,64")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(ModelConfig()).eval().to(memory_format=torch.channels_last)
    native = precision.native_precisions(torch.device("cpu"))
    out: dict = {**header(), "size": args.size, "ms_per_tile": {}, "worker_would_choose": {}}
    for p in args.precisions.split(","):
        if p not in native:
            continue
        m = precision.convert(model, p)
        row = {}
        for n in (int(b) for b in args.batches.split(",")):
            x = torch.randn(n, 3, args.size, args.size).contiguous(memory_format=torch.channels_last)
            t = precision.time_forward(m, x, rounds=args.rounds)
            row[n] = round(t * 1e3 / n, 2)
            print(f"{p} batch {n}: {row[n]} ms per tile", flush=True)
        out["ms_per_tile"][p] = row
        t0 = time.perf_counter()
        chosen, measured = choose_tile_batch(m, torch.device("cpu"), input_size=args.size, precision=p)
        out["worker_would_choose"][p] = {"batch": chosen, "ms_per_tile": measured,
                                         "measurement_s": time.perf_counter() - t0}
    finish(out, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
