"""Does ``torch.compile`` (Inductor) speed up the served forward on this CPU? Issue 17 asks for it
"where it helps". One process, the worker's layout (``--threads``, 1 by default: one single-thread
process per core), the served bf16 (or fp32) model at 224 px, batch ``--batch``: eager against
compiled, alternating round by round so the machine's drift hits both alike. Records the first
compiled call (compilation included), the per-tile time of each, and how far the compiled
logits are from eager.

    PYTHONPATH=. python benchmarks/compile_probe.py --precision bf16 --batch 8 --rounds 10 --out OUT.json

Untrained weights: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run_record import finish, header  # noqa: E402  (a sibling: the script's folder is on sys.path)
from ml import precision  # noqa: E402
from ml.config import ModelConfig  # noqa: E402
from ml.model import build_model  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(ModelConfig()).eval().to(memory_format=torch.channels_last)
    eager = precision.convert(model, args.precision)
    x = torch.randn(args.batch, 3, args.size, args.size).contiguous(memory_format=torch.channels_last)
    compiled = torch.compile(eager)
    out: dict = {**header(), "precision": args.precision, "size": args.size, "batch": args.batch}
    with torch.inference_mode():
        ref = eager(x).float()
        t = time.perf_counter()
        got = compiled(x).float()
        out["first_compiled_call_s"] = time.perf_counter() - t
        out["max_abs_logit_difference"] = float((got - ref).abs().max())
        eager(x)
        compiled(x)
        times: dict[str, list[float]] = {"eager": [], "compiled": []}
        for _ in range(args.rounds):
            for name, m in (("eager", eager), ("compiled", compiled)):
                t = time.perf_counter()
                m(x)
                times[name].append(time.perf_counter() - t)
    for name, s in times.items():
        out[f"{name}_ms_per_tile_median"] = statistics.median(s) * 1e3 / args.batch
        out[f"{name}_ms_per_tile_all"] = [v * 1e3 / args.batch for v in s]
    out["speedup_median"] = out["eager_ms_per_tile_median"] / out["compiled_ms_per_tile_median"]
    finish(out, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
