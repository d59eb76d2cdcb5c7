"""A stand-in checkpoint for the precision agreement benchmark when no trained model exists yet.

A seeded, randomly initialised ResNet50 backbone (BatchNorm statistics re-estimated on the
training images, as a trained network's are) with a two-class head fitted by logistic regression
on its pooled features of training images of the shared sources; temperature 1 and the threshold
that maximises validation accuracy. Its verdicts are weak (a random backbone), but its
probabilities spread over (0, 1) like a trained model's, so fp32-vs-low-precision agreement is
measured on a non-degenerate model. It is marked ``is_demo``; rerun the agreement benchmark with
the real checkpoint as soon as one is trained. Training ResNet50 here was not possible: the shared
2-core machine ran at load 15-19 during this session (benchmarks/precision.md).

    .venv/bin/python benchmarks/precision_probe_model.py --out /tmp/probe/model.pt
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from ml.checkpoint import CheckpointMeta, save_checkpoint  # noqa: E402
from ml.config import ModelConfig, PreprocessConfig  # noqa: E402
from ml.data.sources import load_samples  # noqa: E402
from ml.imageio import decode_image  # noqa: E402
from ml.model import build_model  # noqa: E402
from ml.preprocess import center_crop, to_tensor  # noqa: E402


def _tensors(samples, pre: PreprocessConfig) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return torch.stack([to_tensor(center_crop(decode_image(s.read_bytes()).convert("RGB"), pre.input_size)[0], pre)
                        for s in samples])


def _pick(samples, split: str, per_source: int):  # type: ignore[no-untyped-def]
    out = []
    for source in sorted({s.source for s in samples}):
        pool = [s for s in samples if s.split == split and s.source == source]
        step = max(1, len(pool) // per_source)
        out += pool[::step][:per_source]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=[str(ROOT.parent / "shared/data/cifake"),
                                      str(ROOT.parent / "shared/data/unsplash-gemini")], nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--per-source", type=int, default=160, help="training images per source")
    p.add_argument("--input-size", type=int, default=224)
    args = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    pre = PreprocessConfig(input_size=args.input_size, train_crop=args.input_size)
    config = ModelConfig(zero_init_residual=False)
    model = build_model(config)
    samples = [s for d in args.data for s in load_samples(d)]
    train, val = _pick(samples, "train", args.per_source), _pick(samples, "val", args.per_source // 2)
    t0 = time.time()
    x_train, x_val = _tensors(train, pre), _tensors(val, pre)
    backbone = nn.Sequential(*list(model.children())[:-1])
    # BatchNorm statistics of the training images (a trained network has them; fresh ones are 0/1).
    model.train()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the passes
    with torch.no_grad():
        for i in range(0, len(x_train), 32):
            backbone(x_train[i:i + 32])
    model.eval()
    with torch.no_grad():
        f_train = torch.cat([backbone(x_train[i:i + 32]).flatten(1) for i in range(0, len(x_train), 32)])
        f_val = torch.cat([backbone(x_val[i:i + 32]).flatten(1) for i in range(0, len(x_val), 32)])
    from sklearn.linear_model import LogisticRegression

    y_train = np.array([s.target for s in train])
    y_val = np.array([s.target for s in val])
    mean, std = f_train.mean(0), f_train.std(0) + 1e-6
    clf = LogisticRegression(C=0.05, max_iter=2000).fit(((f_train - mean) / std).numpy(), y_train)
    w = torch.tensor(clf.coef_[0], dtype=torch.float32) / std
    b = float(clf.intercept_[0]) - float((w * mean).sum())
    with torch.no_grad():  # two logits whose difference is the regression's: softmax == sigmoid
        fc = model.fc
        assert isinstance(fc, nn.Linear)
        fc.weight.copy_(torch.stack([-w / 2, w / 2]))
        fc.bias.copy_(torch.tensor([-b / 2, b / 2]))
        p_val = torch.softmax(fc(f_val), 1)[:, 1].numpy()
    thresholds = np.unique(p_val)
    accuracy = [((p_val >= t) == y_val).mean() for t in thresholds]
    threshold = float(thresholds[int(np.argmax(accuracy))])
    meta = CheckpointMeta(model=config, preprocess=pre, temperature=1.0, threshold=threshold, is_demo=True,
                          name="precision-probe-random-backbone",
                          metrics={"val": {"accuracy": float(max(accuracy)), "n": len(val)},
                                   "train_images": len(train), "seconds": time.time() - t0,
                                   "note": "random ResNet50 backbone + logistic-regression head (stand-in)"})
    save_checkpoint(args.out, model, meta)
    print(f"wrote {args.out}: val accuracy {max(accuracy):.3f} at threshold {threshold:.3f}, "
          f"p_val spread {p_val.min():.3f}..{p_val.max():.3f}, {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
