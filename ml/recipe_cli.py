"""``python -m ml recipe`` (one stage, :mod:`ml.recipe`) and ``python -m ml served-recipe`` (the served
chain of stages, :mod:`ml.recipe_chain`: what ``make model`` runs)."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from typing import Any

from .tiling import DEFAULT_MAX_TILES


def _repeat(text: str) -> dict[str, int]:
    """``unsplash-gemini=4,other=2`` -> {"unsplash-gemini": 4, "other": 2}; "" -> {}."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, times = part.partition("=")
        try:
            out[name] = int(times)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected SOURCE=TIMES[,SOURCE=TIMES], not {text!r}") from None
    return out


def _config(args: argparse.Namespace, **stage: Any) -> Any:
    from .recipe import RecipeConfig

    return RecipeConfig(
        data=args.data, out_dir=args.out, name=args.name,
        sources=tuple(filter(None, args.sources.split(","))) if args.sources else (),
        val_per_class=args.val_per_class, input_size=args.input_size,
        train_crop=args.train_crop or args.input_size, max_steps=args.max_steps,
        batch_size=args.batch_size, warmup_epochs=args.warmup_epochs, jpeg_prob=args.jpeg_prob,
        num_workers=args.num_workers, seed=args.seed, eval_tiles=args.eval_tiles,
        check_precisions=not args.no_precision_check,
        eval_per_class=args.eval_per_class, robustness_per_class=args.robustness_per_class,
        init_checkpoint=args.init_checkpoint, input_representation=args.input_representation, stem=args.stem,
        train_precision=args.train_precision, **stage)


def _report(ckpt: Any, card: Any) -> None:
    print(json.dumps({"checkpoint": str(ckpt), "metrics": {k: {m: v.get(m) for m in ("n", "accuracy", "roc_auc", "ece")}
                                                            for k, v in card.metrics.items()}}, indent=2))


def _machine(args: argparse.Namespace) -> str:
    return args.machine or f"{platform.node()} ({platform.machine()}, {platform.processor() or 'cpu'})"


def _cmd_recipe(args: argparse.Namespace) -> None:
    from .recipe import run_recipe

    cfg = _config(args, repeat=args.repeat, epochs=args.epochs, lr=args.lr)
    ckpt, card = run_recipe(cfg, command="python -m ml recipe " + " ".join(sys.argv[2:]), machine=_machine(args),
                            show_bar=not args.quiet)
    _report(ckpt, card)


def _cmd_served_recipe(args: argparse.Namespace) -> None:
    from .recipe_chain import run_chain

    ckpt, card = run_chain(_config(args), command="python -m ml served-recipe " + " ".join(sys.argv[2:]),
                           machine=_machine(args), show_bar=not args.quiet)
    _report(ckpt, card)


def _shared_options(p: Any, *, jpeg_prob: float, stem: str) -> None:
    p.add_argument("--data", default="../shared/data", help="folder of sources (MANIFEST.csv + shards each)")
    p.add_argument("--out", default="var/models/recipe", help="run folder (never commit it)")
    p.add_argument("--name", default="verity-resnet50", help="model name stored in the checkpoint")
    p.add_argument("--sources", default="", help="comma-separated sources to train on (default: all trainable)")
    p.add_argument("--val-per-class", type=int, default=150, help="validation images per source and class (0: all)")
    p.add_argument("--input-size", type=int, default=32, help="tile side the model sees, native pixels")
    p.add_argument("--train-crop", type=int, default=0, help="training crop side (default: input size)")
    p.add_argument("--max-steps", type=int, default=0, help="stop training after this many steps (0: no limit)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--warmup-epochs", type=float, default=0.05)
    p.add_argument("--jpeg-prob", type=float, default=jpeg_prob, help="JPEG re-compression augmentation probability")
    p.add_argument("--num-workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-tiles", type=int, default=DEFAULT_MAX_TILES,
                   help="tiles per test image (default: the budget the worker serves and the recipe calibrates at)")
    p.add_argument("--no-precision-check", action="store_true",
                   help="do not measure bf16/int8 agreement with fp32 on validation (then `auto` serves fp32)")
    p.add_argument("--eval-per-class", type=int, default=0, help="test images per source and class (0: all)")
    p.add_argument("--robustness-per-class", type=int, default=50,
                   help="test images per source and class for the re-share robustness (0: skip)")
    p.add_argument("--init-checkpoint", default=None, help="start from this Verity checkpoint's weights")
    p.add_argument("--input-representation", choices=("rgb", "npr"), default="rgb",
                   help="what the network sees: the pixels (rgb) or their neighbouring-pixel residual "
                        "(npr, Tan et al. 2024)")
    p.add_argument("--stem", choices=("imagenet", "small"), default=stem,
                   help="first layers: ImageNet's 7x7/2 + max-pool, or a 3x3/1 convolution without pooling "
                        "for small tiles (16x the compute; layer4 keeps a 4 x 4 map on 32 px)")
    p.add_argument("--train-precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="training arithmetic: bf16 autocast or fp32; auto: bf16 on CUDA with bf16, on a CPU as "
                   "ml.train.CPU_AUTO_BF16 says (benchmarks/bf16_training.md). The card records what ran")
    p.add_argument("--machine", default="", help="machine description for the model card")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "recipe", help="train one stage: from a shared/data-style folder, evaluate it per source and write "
        "its model card",
        description="Trains on every source with a train split (sources whose images are all `test` are "
        "held out and only evaluated), calibrates on validation, evaluates each source's test split with "
        "tiled inference, measures robustness under a re-share chain and the file-level shortcut, and "
        "writes OUT/model.pt with its model card (OUT/model_card.json, .md; also inside model.pt).")
    _shared_options(p, jpeg_prob=0.0, stem="imagenet")
    p.add_argument("--repeat", type=_repeat, default={"unsplash-gemini": 4},
                   help="list a source's training images this many times, e.g. unsplash-gemini=4 (each "
                   "listing is another random native crop)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.set_defaults(func=_cmd_recipe)

    from .recipe_chain import SERVED_CHAIN, SERVED_STEM

    stages = "; ".join(f"{s.name}: {s.epochs} epochs, lr {s.lr:g}, repeat "
                       f"{','.join(f'{k}={v}' for k, v in s.repeat.items()) or '-'}" for s in SERVED_CHAIN)
    p = sub.add_parser(
        "served-recipe", help="train the served model (what `make model` runs): the recipe's stages in a "
        "chain, kept on validation",
        description=f"The recipe run as a chain of stages ({stages}), each starting from the checkpoint kept "
        "before it; a stage is kept only if its pooled validation ROC-AUC beats that checkpoint. Intermediate "
        "stages evaluate a sample of the test splits; the served one gets the full evaluation and is written "
        "to OUT/model.pt with its card (stage folders under OUT, the chain's record in OUT/chain.json).")
    _shared_options(p, jpeg_prob=0.5, stem=SERVED_STEM)
    p.set_defaults(func=_cmd_served_recipe)


def _cmd_precision_check(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .recipe import recheck_precisions

    result = recheck_precisions(Path(args.checkpoint), args.data, val_per_class=args.val_per_class,
                                eval_tiles=args.eval_tiles, seed=args.seed,
                                sources=tuple(filter(None, args.sources.split(","))), record=args.record)
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


def add_precision_check_parser(sub: Any) -> None:
    p = sub.add_parser(
        "precision-check", help="measure bf16/int8 agreement with fp32 on validation for a checkpoint",
        description="What the recipe does after training, for an existing checkpoint: each lower precision "
        "this machine runs natively is compared with fp32 on the validation split the recipe draws from "
        "--data, on the served whole-image path, per source (verdict agreement >= 99.5 %, mean |dp| <= 0.01, "
        "accuracy within 0.3 points). With --record the result goes into the checkpoint and its model card, "
        "so the worker's `auto` precision may serve the passing ones; that changes the file, so record before "
        "registering it in the portal (a registered file that changes is refused).")
    p.add_argument("checkpoint")
    p.add_argument("--data", default="../shared/data", help="folder of sources (the model's training data)")
    p.add_argument("--sources", default="", help="comma-separated sources (default: every source with a val split)")
    p.add_argument("--val-per-class", type=int, default=150, help="validation images per source and class (0: all)")
    p.add_argument("--eval-tiles", type=int, default=DEFAULT_MAX_TILES,
                   help="tiles per image (default: the budget the worker serves)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--record", action="store_true", help="write the result into the checkpoint and its card")
    p.add_argument("--out", default="", help="also write the JSON here")
    p.set_defaults(func=_cmd_precision_check)
