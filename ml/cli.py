"""``python -m ml``: the detector's command line, usable without Django.

Every command reports problems it can name (a missing file, a bad config, an unreadable image)
as one ``error: ...`` line and exit status 2; ``--help`` on any command lists its options.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from .errors import MLError


def _pair(kind: type) -> Any:
    def parse(text: str) -> tuple[Any, Any]:
        try:
            lo, hi = (kind(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected two numbers as LOW,HIGH, not {text!r}") from None
        return lo, hi
    return parse


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        a, b, c = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected TRAIN,VAL,TEST fractions, not {text!r}") from None
    return a, b, c


def _write_json(obj: Any, path: str | None) -> None:
    text = json.dumps(obj, indent=2)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
    print(text)


def _cmd_demo_data(args: argparse.Namespace) -> None:
    from .data.demo import generate_demo_dataset

    out = generate_demo_dataset(args.out, pairs=args.pairs, size=args.size, seed=args.seed,
                                progress=True)
    print(f"Demo dataset written to {out}")


def _cmd_analyse(args: argparse.Namespace) -> None:
    from .data import load_samples
    from .data.analysis import analyse_samples, write_analysis

    report = analyse_samples(load_samples(args.data), progress=True)
    paths = write_analysis(report, args.out)
    summary = {k: report[k] for k in ("n_samples", "n_decoded", "counts", "formats")}
    summary.update({"duplicate_groups": report["duplicates"]["groups"],
                    "cross_split_duplicate_groups": report["cross_split_duplicates"]["groups"],
                    "label_conflicts": report["label_conflicts"]["groups"],
                    "undecodable": report["undecodable"]["count"],
                    "files": {k: str(v) for k, v in paths.items()}})
    print(json.dumps(summary, indent=2))


def _cmd_split(args: argparse.Namespace) -> None:
    from .data import load_samples
    from .splits import make_splits, split_samples, split_summary, write_split_manifest

    moved = 0
    if args.keep_existing:
        samples, moved = split_samples(load_samples(args.data), seed=args.seed, fractions=args.fractions)
    else:
        samples = make_splits(load_samples(args.data), seed=args.seed, fractions=args.fractions)
    out = write_split_manifest(samples, args.out)
    print(json.dumps({"manifest": str(out), "seed": args.seed, "counts": split_summary(samples),
                      "copies_moved_to_their_earlier_split": moved}, indent=2))


# Options of `train` that map one to one onto TrainConfig fields (dest -> field).
_TRAIN_FIELDS = ("data", "epochs", "batch_size", "lr", "weight_decay", "optimizer", "label_smoothing",
                 "warmup_epochs", "max_steps", "seed", "device", "num_workers", "decode_cache_mb", "jpeg_prob",
                 "jpeg_quality", "blur_prob", "blur_sigma", "init_checkpoint")


def train_config_from_args(args: argparse.Namespace) -> Any:
    """The training config: defaults, then ``--config FILE`` (a run's config.json), then every
    option given on the command line."""
    from .config import TrainConfig

    config = TrainConfig()
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise MLError(f"Config file not found: {path}")
        try:
            config = TrainConfig.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as exc:
            raise MLError(f"{path} is not a training config ({exc}).") from exc
    over = {f: getattr(args, f) for f in _TRAIN_FIELDS if getattr(args, f) is not None}
    if args.out is not None:
        over["out_dir"] = args.out
    if args.patience is not None:
        over["early_stopping_patience"] = args.patience
    if args.no_hflip:
        over["hflip"] = False
    if args.train_precision is not None:
        over["precision"] = args.train_precision
    config = replace(config, **over)
    pre = {k: v for k, v in (("input_size", args.input_size), ("train_crop", args.train_crop)) if v is not None}
    if pre:
        config = replace(config, preprocess=replace(config.preprocess, **pre))
    if args.pretrained is not None:
        config = replace(config, model=replace(config.model, pretrained_weights=args.pretrained))
    if not config.data:
        raise MLError("No dataset: pass --data FOLDER_OR_CSV (or a --config file that names one).")
    return config


def _cmd_train(args: argparse.Namespace) -> None:
    from .train import train

    config = train_config_from_args(args)
    result = train(config, is_demo=args.demo, resume=args.resume, name=args.name or "")
    print(json.dumps({"checkpoint": str(result.checkpoint), "metrics": result.metrics}, indent=2))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluate import evaluate

    result = evaluate(args.checkpoint, args.data, split=args.split, device=args.device,
                      batch_size=args.batch_size, max_tiles=args.tiles, faithfulness=args.faithfulness,
                      out_dir=args.out, seed=args.seed, progress=True)
    _warn(result["warnings"])
    _write_json(result, args.json)


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        print(f"WARNING: {w}", file=sys.stderr)


def _cmd_predict(args: argparse.Namespace) -> None:
    from .heatmaps import png_bytes, render_overlay
    from .predict import Predictor

    predictor = Predictor(args.checkpoint, device=args.device, max_tiles=args.tiles)
    blobs = [_read(p) for p in args.images]
    preds = predictor.predict_bytes(blobs, explain=bool(args.heatmaps))
    rows = []
    for path, p in zip(args.images, preds):
        row: dict[str, Any] = {"image": path, "label": p.label, "probability_ai": round(p.probability_ai, 6),
                               "confidence": round(p.confidence, 6), "timings_ms": p.timings_ms}
        if p.tiles:
            row["tiles"] = p.tiles
        if args.heatmaps and p.heatmap is not None and p.crop_image is not None:
            out = Path(args.heatmaps) / (Path(path).stem + ".gradcam.png")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(png_bytes(render_overlay(p.crop_image, p.heatmap)))
            row["heatmap"] = str(out)
        rows.append(row)
    print(json.dumps(rows, indent=2))


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise MLError(f"Cannot read {path}: {exc.strerror or exc}.") from exc


def _cmd_spectral_probe(args: argparse.Namespace) -> None:
    """Fit the residual-spectrum probe and score every split, or judge images with a fitted one."""
    from . import spectrum
    from .imageio import decode_image

    if args.probe:
        probe = spectrum.SpectralProbe.from_dict(json.loads(_read(args.probe)))
        rows = []
        for path in args.images:
            p = probe.probability(decode_image(_read(path)))
            rows.append({"image": path, "probability_ai": None if p is None else round(p, 6),
                         **({} if p is not None else {"note": f"smaller than the {probe.window} px window"})})
        print(json.dumps(rows, indent=2))
        return
    if not (args.data and args.source and args.out):
        raise MLError("Give --data, --source and --out to fit a probe, or --probe and images to judge them.")
    from .data import load_samples

    probe, report = spectrum.fit_on_dataset(load_samples(args.data), args.source, window=args.window, bins=args.bins)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_text(json.dumps(probe.to_dict()))
    _write_json(report, str(out / "metrics.json"))


def _cmd_explain(args: argparse.Namespace) -> None:
    """Grad-CAM overlays (and bare heatmaps) for image files or a split of a dataset."""
    from .heatmaps import heatmap_image, png_bytes, render_overlay
    from .predict import Predictor

    if bool(args.images) == bool(args.data):
        raise MLError("Give either image files or --data DATASET (with --split), not both or neither.")
    predictor = Predictor(args.checkpoint, device=args.device, max_tiles=args.tiles)
    if args.data:
        from .evaluate import unseen_split

        chosen, report = unseen_split(predictor.meta, args.data, args.split, args.seed)
        _warn(report["warnings"])
        chosen = chosen[:args.limit] if args.limit else chosen
        # (reference, name, bytes, known label or None)
        items: list[tuple[str, str, bytes, str | None]] = [
            (s.ref, Path(s.member or s.path.name).stem, s.read_bytes(), s.label) for s in chosen]
    else:
        items = [(p, Path(p).stem, _read(p), None) for p in args.images]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for start in range(0, len(items), args.batch_size):
            chunk = items[start:start + args.batch_size]
            preds = predictor.predict_bytes([b for _, _, b, _ in chunk], explain=True)
            for n, ((ref, stem, _, truth), p) in enumerate(zip(chunk, preds), start=start):
                assert p.heatmap is not None and p.crop_image is not None
                name = f"{n:05d}-{stem}"
                (out / f"{name}.gradcam.png").write_bytes(png_bytes(render_overlay(p.crop_image, p.heatmap)))
                (out / f"{name}.heatmap.png").write_bytes(png_bytes(heatmap_image(p.heatmap)))
                rows.append({"image": ref, "true_label": truth, "label": p.label,
                             "probability_ai": round(p.probability_ai, 6),
                             "crop": [p.crop.left, p.crop.top, p.crop.width, p.crop.height],
                             "overlay": f"{name}.gradcam.png", "heatmap": f"{name}.heatmap.png"})
    finally:
        predictor.close()
    (out / "explanations.json").write_text(json.dumps(rows, indent=2))
    print(json.dumps({"out": str(out), "images": len(rows), "index": str(out / "explanations.json")}, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ml", description="Verity's real-vs-AI image detector: data, training, evaluation, "
        "prediction and Grad-CAM explanations, without Django.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    devices = ["auto", "cpu", "cuda"]

    p = sub.add_parser("demo-data", help="generate the small demo dataset",
                       description="Write real/synthetic demo image pairs as <split>/<REAL|FAKE>/*.png "
                       "plus MANIFEST.csv. Only for demonstrating the pipeline.")
    p.add_argument("out", help="folder to write into")
    p.add_argument("--pairs", type=int, default=300, help="real/synthetic pairs (default 300)")
    p.add_argument("--size", type=int, default=128, help="image side in pixels, even (default 128)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo_data)

    p = sub.add_parser("analyse", help="counts, sizes, formats, duplicates and broken files of a dataset",
                       description="Read every image once; write analysis.json, class_balance.png and "
                       "image_sizes.png into --out.")
    p.add_argument("data", help="dataset folder, manifest CSV, or a folder of sources with MANIFEST.csv")
    p.add_argument("--out", required=True, help="folder for analysis.json and the plots")
    p.set_defaults(func=_cmd_analyse)

    p = sub.add_parser("split", help="seeded, stratified, duplicate-safe train/val/test split as a manifest",
                       description="Assign train/val/test stratified by class and source; exact duplicates "
                       "(same SHA-256) always share a split. Writes a manifest CSV usable as --data.")
    p.add_argument("data", help="dataset folder or manifest CSV")
    p.add_argument("--out", required=True, help="manifest CSV to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fractions", type=_fractions, default=(0.7, 0.15, 0.15), help="TRAIN,VAL,TEST (default 0.7,0.15,0.15)")
    p.add_argument("--keep-existing", action="store_true", help="keep splits the data already has")
    p.set_defaults(func=_cmd_split)

    p = sub.add_parser("train", help="train ResNet50 on a dataset",
                       description="Options override --config (a run's config.json), which overrides "
                       "the defaults of ml.config.TrainConfig. The resolved config is saved in --out.")
    p.add_argument("--data", default=None, help="dataset folder or manifest CSV")
    p.add_argument("--out", default=None, help="run folder for model.pt, last.pt, config.json, metrics.jsonl")
    p.add_argument("--config", default=None, help="JSON training config to start from")
    p.add_argument("--resume", action="store_true", help="continue from --out/last.pt with the same settings")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--optimizer", choices=["adamw", "sgd"])
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--warmup-epochs", type=float)
    p.add_argument("--patience", type=int, help="early stopping patience in epochs (0: off)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (0: no limit)")
    p.add_argument("--input-size", type=int, help="inference crop side")
    p.add_argument("--train-crop", type=int, help="training random-crop side")
    p.add_argument("--no-hflip", action="store_true", help="no horizontal flips")
    p.add_argument("--jpeg-prob", type=float, help="probability of JPEG re-compression (Wang et al. 2020)")
    p.add_argument("--jpeg-quality", type=_pair(int), help="JPEG quality range LOW,HIGH (default 30,100)")
    p.add_argument("--blur-prob", type=float, help="probability of Gaussian blur (Wang et al. 2020)")
    p.add_argument("--blur-sigma", type=_pair(float), help="blur sigma range LOW,HIGH (default 0,3)")
    p.add_argument("--pretrained", default=None, help="local torchvision ResNet50 ImageNet weights file")
    p.add_argument("--init-checkpoint", default=None,
                   help="a Verity checkpoint (an earlier run's model.pt) to start from instead of random weights")
    p.add_argument("--seed", type=int)
    p.add_argument("--num-workers", type=int, help="DataLoader worker processes")
    p.add_argument("--decode-cache-mb", type=int,
                   help="decoded training images kept in memory per loader process, MiB (default 2048; 0: off)")
    p.add_argument("--device", choices=devices)
    p.add_argument("--train-precision", choices=["auto", "fp32", "bf16"],
                   help="training arithmetic: bf16 autocast or fp32; auto (default): bf16 on CUDA with bf16, "
                   "on a CPU as ml.train.CPU_AUTO_BF16 says (benchmarks/bf16_training.md)")
    p.add_argument("--demo", action="store_true", help="mark the checkpoint as a demo model")
    p.add_argument("--name", default=None, help="model name stored in the checkpoint")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="metrics, per-source breakdown, plots and Grad-CAM faithfulness",
                       description="Uses the checkpoint's validation-chosen threshold and temperature.")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for splitting unsplit data (default: the checkpoint's training seed)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--tiles", type=int, default=1, help="tiled inference with at most this many tiles per image")
    p.add_argument("--faithfulness", action="store_true", help="also measure Grad-CAM faithfulness (slower)")
    p.add_argument("--json", default=None, help="also write the result to this JSON file")
    p.add_argument("--out", default=None, help="folder for evaluation.json and the PNG plots")
    p.add_argument("--device", choices=devices, default="auto")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="classify image files")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--heatmaps", default=None, help="folder to write Grad-CAM overlays into")
    p.add_argument("--tiles", type=int, default=1, help="tiled inference with at most this many tiles per image")
    p.add_argument("--device", choices=devices, default="auto")
    p.add_argument("images", nargs="+")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("explain", help="write Grad-CAM overlays for image files or a dataset split",
                       description="Writes <n>-<name>.gradcam.png (overlay), <n>-<name>.heatmap.png (bare "
                       "map) and explanations.json into --out.")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None, help="dataset to explain instead of image files")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=0, help="explain at most this many images of the split")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for splitting unsplit data (default: the checkpoint's training seed)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--tiles", type=int, default=1)
    p.add_argument("--device", choices=devices, default="auto")
    p.add_argument("images", nargs="*")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("spectral-probe", help="the noise residual's spectrum: fit a linear probe on one source's "
                       "train split and score every split, or judge images with a fitted probe",
                       description="Fit: --data, --source, --out (writes probe.json and metrics.json). Judge: "
                       "--probe probe.json IMAGE... Not served by the portal; what it is worth, and where it fails "
                       "(re-shares), is in benchmarks/detector.md 5o-5q.")
    p.add_argument("--data", default=None)
    p.add_argument("--source", default=None, help="the source whose train split the probe learns from")
    p.add_argument("--out", default=None)
    p.add_argument("--window", type=int, default=256, help="spectrum window, pixels (images smaller are left out)")
    p.add_argument("--bins", type=int, default=32, help="the spectrum is pooled to BINS x BINS cells")
    p.add_argument("--probe", default=None, help="a probe.json to judge IMAGES with")
    p.add_argument("images", nargs="*")
    p.set_defaults(func=_cmd_spectral_probe)

    from .recipe_cli import add_parser as add_recipe_parser
    from .recipe_cli import add_precision_check_parser

    add_recipe_parser(sub)
    add_precision_check_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
