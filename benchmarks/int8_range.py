"""int8 with 7-bit against 8-bit activations (issue 17): the measurement behind ``ml.precision.INT8_FULL_RANGE``.

PyTorch's x86 default quantises activations to 7 bits ("reduce_range") so that CPUs without VNNI
cannot overflow; Verity runs int8 only on CPUs with VNNI or AMX-INT8. For each checkpoint, the
recipe's own precision check (``ml.recipe.recheck_precisions``: validation split, the served
whole-image path, issue 17's tolerances) runs once with each setting, and the int8 rows are kept::

    VERITY_TORCH_THREADS=2 python benchmarks/int8_range.py --data ../shared/data \\
        --out benchmarks/precision_results/int8_range_20261127.json CKPT [CKPT ...]

Results and the decision: benchmarks/precision.md ("int8 activation range").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ml.precision  # noqa: E402
from ml.recipe import recheck_precisions  # noqa: E402
from run_record import finish, header  # noqa: E402  (a sibling: the script's folder is on sys.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--data", required=True)
    parser.add_argument("--val-per-class", type=int, default=150)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if "int8" not in ml.precision.native_precisions(torch.device("cpu")):
        raise SystemExit("int8 is not native on this CPU (no VNNI/AMX-INT8): nothing to compare.")
    record = header()
    rows: list[dict[str, Any]] = []
    for checkpoint in args.checkpoints:
        for full_range in (False, True):
            ml.precision.INT8_FULL_RANGE = full_range
            started = time.time()
            result = recheck_precisions(Path(checkpoint), args.data, val_per_class=args.val_per_class)
            int8 = result["results"].get("int8", {})
            rows.append({"checkpoint": checkpoint, "activation_bits": 8 if full_range else 7,
                         "seconds": round(time.time() - started, 1), "int8": int8,
                         "bf16_passes": result["results"].get("bf16", {}).get("passes")})
            pooled = int8.get("all", {})
            print(f"{checkpoint} {8 if full_range else 7}-bit: agreement {pooled.get('verdict_agreement')} "
                  f"mean|dp| {pooled.get('mean_abs_dp')} acc points {pooled.get('accuracy_points')} "
                  f"passes {int8.get('passes')}", flush=True)
    finish({**record, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
