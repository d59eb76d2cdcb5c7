"""How fast the training data path produces crops from the photo source (issue 12: the photo
source's training was partly decode-bound, benchmarks/detector.md 5f).

One training epoch of unsplash-gemini's train split as the recipe lists it (each photo ``--repeat``
times, shuffled with a fixed seed), through ``ml.data.dataset.ImageDataset`` in this process: decode,
the recipe's JPEG re-encode augmentation (p = 0.5), a random native crop, flip, tensor. Reports
crops per second, the decodes made and the peak memory. Run it on the tree to measure; the code
before the decode cache takes ``--cache-mb 0`` (it has no cache)::

    PYTHONPATH=. python benchmarks/training_data_path.py --cache-mb 2048 --out OUT.json
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run_record import finish, header  # noqa: E402

import ml.data.dataset as dataset_module  # noqa: E402
from ml.config import PreprocessConfig  # noqa: E402
from ml.data.dataset import ImageDataset  # noqa: E402
from ml.preprocess import Augment  # noqa: E402
from ml.recipe import training_samples  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="/work/shared/data")
    p.add_argument("--repeat", type=int, default=8, help="listings of each photo per epoch (the ablations' 8)")
    p.add_argument("--crop", type=int, default=32)
    p.add_argument("--jpeg-prob", type=float, default=0.5)
    p.add_argument("--cache-mb", type=int, default=2048, help="0: no cache (and the only choice before it existed)")
    p.add_argument("--out", default="")
    args = p.parse_args()
    samples, _ = training_samples(args.data, sources=["unsplash-gemini"], repeat={"unsplash-gemini": args.repeat},
                                  include_test=False)
    train = [s for s in samples if s.split == "train"]
    order = list(range(len(train)))
    random.Random(0).shuffle(order)
    kw = {"cache_bytes": args.cache_mb * 2**20} if args.cache_mb else {}
    ds = ImageDataset(train, PreprocessConfig(input_size=args.crop, train_crop=args.crop), train=True,
                      augment=Augment(jpeg_prob=args.jpeg_prob), seed=0, **kw)
    decodes = 0
    real_decode = dataset_module.decode_image

    def counted(data: bytes, **k):  # type: ignore[no-untyped-def]
        nonlocal decodes
        decodes += 1
        return real_decode(data, **k)

    dataset_module.decode_image = counted
    record = header()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in order:
        ds[i]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = record | {"listings": len(train), "distinct_images": len({s.ref for s in train}),
                      "crop": args.crop, "jpeg_prob": args.jpeg_prob, "cache_mb": args.cache_mb,
                      "decodes": decodes, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                      "crops_per_s": round(len(train) / wall, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    finish(out, args.out)


if __name__ == "__main__":
    main()
