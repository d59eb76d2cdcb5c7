"""``python -m ml``: the detector's command line, usable without Django."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import MLError


def _cmd_demo_data(args: argparse.Namespace) -> None:
    from .data.demo import generate_demo_dataset

    out = generate_demo_dataset(args.out, pairs=args.pairs, size=args.size, seed=args.seed,
                                progress=True)
    print(f"Demo dataset written to {out}")


def _cmd_train(args: argparse.Namespace) -> None:
    from .config import ModelConfig, PreprocessConfig, TrainConfig
    from .train import train

    config = TrainConfig(
        data=args.data, out_dir=args.out, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, optimizer=args.optimizer, seed=args.seed, device=args.device,
        label_smoothing=args.label_smoothing, warmup_epochs=args.warmup_epochs,
        early_stopping_patience=args.patience, max_steps=args.max_steps,
        model=ModelConfig(pretrained_weights=args.pretrained),
        preprocess=PreprocessConfig(input_size=args.input_size, train_crop=args.train_crop),
    )
    result = train(config, is_demo=args.demo)
    print(json.dumps({"checkpoint": str(result.checkpoint), "metrics": result.metrics}, indent=2))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluate import evaluate

    print(json.dumps(evaluate(args.checkpoint, args.data, split=args.split, device=args.device), indent=2))


def _cmd_predict(args: argparse.Namespace) -> None:
    from .explain import png_bytes, render_overlay
    from .predict import Predictor

    predictor = Predictor(args.checkpoint, device=args.device)
    blobs = [Path(p).read_bytes() for p in args.images]
    preds = predictor.predict_bytes(blobs, explain=bool(args.heatmaps))
    rows = []
    for path, p in zip(args.images, preds):
        row = {"image": path, "label": p.label, "probability_ai": round(p.probability_ai, 6),
               "confidence": round(p.confidence, 6), "timings_ms": p.timings_ms}
        if args.heatmaps and p.heatmap is not None and p.crop_image is not None:
            out = Path(args.heatmaps) / (Path(path).stem + ".gradcam.png")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(png_bytes(render_overlay(p.crop_image, p.heatmap)))
            row["heatmap"] = str(out)
        rows.append(row)
    print(json.dumps(rows, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml", description="Verity's real-vs-AI image detector.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo-data", help="generate the small demo dataset")
    p.add_argument("out")
    p.add_argument("--pairs", type=int, default=300)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo_data)

    p = sub.add_parser("train", help="train ResNet50 on a dataset")
    p.add_argument("--data", required=True, help="dataset folder or manifest CSV")
    p.add_argument("--out", required=True, help="run folder for model.pt, config.json, metrics.jsonl")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", choices=["adamw", "sgd"], default="adamw")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--warmup-epochs", type=float, default=0.0)
    p.add_argument("--patience", type=int, default=0, help="early stopping patience (0: off)")
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--train-crop", type=int, default=224)
    p.add_argument("--pretrained", default=None, help="local torchvision ResNet50 weights file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--demo", action="store_true", help="mark the checkpoint as a demo model")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="metrics of a checkpoint on a split")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="classify image files")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--heatmaps", default=None, help="folder to write Grad-CAM overlays into")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("images", nargs="+")
    p.set_defaults(func=_cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
