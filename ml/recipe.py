"""The training recipe that makes the model the portal serves (``make model``).

``python -m ml recipe --data ../shared/data --out RUN`` does, in order:

1. **Training manifest.** Reads every source under ``--data`` (the ``shared/data`` layout: one
   folder per source with ``MANIFEST.csv`` and tar shards). Sources whose images are all in the
   ``test`` split (``commons-zimage``) are held out entirely: never trained, validated or
   calibrated on, only evaluated. Exact duplicates (same SHA-256) that the manifest put both in
   train and in val/test are dropped from val/test, so no test image was seen in training.
   Sources of few large images (``unsplash-gemini``: 437 training photos of 1280x720) are
   repeated ``repeat`` times in the training list: each repetition is a different random native
   crop, so one epoch sees as many crops of them as the crop budget allows, instead of one 32 px
   crop per photo per epoch next to 16,000 CIFAKE images.
2. **Training** with :func:`ml.train.train` (calibration on the validation split as usual).
3. **Evaluation** per source on its test split, robustness under a re-share chain, and the
   model card (:mod:`ml.modelcard`) written beside the checkpoint as ``model_card.json``.

Registering the checkpoint in the portal is the portal's job (``manage.py register_model``);
this module imports nothing of Django.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .checkpoint import VERIFIED_KEY, atomic_save, meta_from_payload, read_checkpoint
from .config import ModelConfig, PreprocessConfig, TrainConfig
from .corruptions import jpeg, resize
from .data.sources import Sample, load_samples, sort_key
from .errors import MLError
from .imageio import decode_image
from .metrics import binary_metrics
from .modelcard import (
    CARD_FILE,
    ModelCard,
    card_from_dict,
    card_markdown,
    metric_summary,
    now_iso,
    source_licence,
    write_card,
)
from .precision_check import check_precisions
from .predict import Predictor
from .shortcuts import feature_matrix, shortcut_classifiers
from .splits import write_split_manifest
from .tiling import DEFAULT_MAX_TILES
from .train import train


def held_out_sources(samples: list[Sample]) -> list[str]:
    """Sources with no train or val images: for cross-source evaluation only."""
    splits: dict[str, set[str]] = defaultdict(set)
    for s in samples:
        splits[s.source or "(none)"].add(s.split)
    return sorted(src for src, sp in splits.items() if sp <= {"test"})


def dedupe_across_splits(samples: list[Sample]) -> tuple[list[Sample], int]:
    """Drop val/test samples whose declared SHA-256 also occurs in train (same source or not).
    Returns the kept samples and how many were dropped."""
    in_train = {s.sha256 for s in samples if s.split == "train" and s.sha256}
    kept = [s for s in samples if s.split == "train" or not s.sha256 or s.sha256 not in in_train]
    return kept, len(samples) - len(kept)


def training_samples(data: str | Path, *, sources: list[str] | None = None,
                     repeat: dict[str, int] | None = None, val_per_class: int = 0,
                     include_test: bool = True, seed: int = 0) -> tuple[list[Sample], dict[str, Any]]:
    """The samples the recipe trains/validates/tests on, and a summary of how they were chosen.

    ``sources``: train only on these (default: every source that has a train split).
    ``repeat``: source -> how many times its training samples are listed (default 1).
    ``val_per_class``: keep at most this many validation images per source and class (a seeded
    sample; 0 keeps all). Validation is predicted twice per run (model selection, calibration),
    which on a shared 2-core CPU costs as much as a real share of the training.
    ``include_test``: keep the test split in the manifest (the recipe evaluates test per source
    itself, with tiled inference, so its training manifest leaves it out).
    """
    samples = load_samples(data)
    held_out = held_out_sources(samples)
    available = sorted({s.source or "(none)" for s in samples} - set(held_out))
    chosen = sources or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise MLError(f"No trainable source named {', '.join(unknown)} under {data}; "
                      f"trainable sources: {', '.join(available) or 'none'} "
                      f"(held out: {', '.join(held_out) or 'none'}).")
    picked = [s for s in samples if (s.source or "(none)") in chosen]
    picked, dropped = dedupe_across_splits(picked)
    if not include_test:
        picked = [s for s in picked if s.split != "test"]
    if val_per_class:
        rng = random.Random(seed)
        groups: dict[tuple[str, str], list[Sample]] = defaultdict(list)
        for s in picked:
            if s.split == "val":
                groups[(s.source, s.label)].append(s)
        keep = {id(x) for g in groups.values() for x in rng.sample(g, min(len(g), val_per_class))}
        picked = [s for s in picked if s.split != "val" or id(s) in keep]
    out: list[Sample] = []
    for s in picked:
        times = (repeat or {}).get(s.source or "(none)", 1) if s.split == "train" else 1
        out.extend([s] * max(1, times))
    counts = Counter((s.source or "(none)", s.split, s.label) for s in picked)
    summary = {
        "sources": chosen, "held_out": held_out, "duplicates_dropped_from_val_test": dropped,
        "repeat": {k: v for k, v in (repeat or {}).items() if k in chosen},
        "val_per_class": val_per_class,
        "counts": {src: {split: {lab: counts[(src, split, lab)] for lab in ("real", "ai_generated")}
                         for split in ("train", "val", "test")} for src in chosen},
    }
    return out, summary


def write_training_manifest(samples: list[Sample], path: str | Path) -> Path:
    return write_split_manifest(samples, path)


# --- the whole recipe ---------------------------------------------------------------------------

RESHARE_CHAIN = "downscale so the long side is at most 1080 px (bicubic), then JPEG quality 75"


def reshare(im: Image.Image, long_side: int = 1080, quality: int = 75) -> Image.Image:
    """One social-network re-share: downscale to ``long_side`` when larger, then re-encode as JPEG.
    Small images (CIFAKE's 32 px) are only re-encoded."""
    im = im.convert("RGB")
    if max(im.size) > long_side:
        im = resize(im, long_side / max(im.size))
    return jpeg(im, quality)


@dataclass
class RecipeConfig:
    """The recipe's choices (``python -m ml recipe --help`` lists them as options)."""

    data: str = "../shared/data"
    out_dir: str = "var/models/recipe"
    name: str = "verity-resnet50"
    sources: tuple[str, ...] = ()  # empty: every source with a train split
    repeat: dict[str, int] = field(default_factory=lambda: {"unsplash-gemini": 4})
    val_per_class: int = 150
    input_size: int = 32
    train_crop: int = 32
    epochs: int = 1
    max_steps: int = 0
    batch_size: int = 32
    lr: float = 1e-3
    warmup_epochs: float = 0.05
    jpeg_prob: float = 0.0
    num_workers: int = 1
    seed: int = 0
    # Evaluation: tiles per image (native input_size tiles over the image, see ml.predict) and at
    # most this many test images per source and class (0: all). The tile budget is the one the
    # recipe calibrates at and the worker serves (VERITY_MAX_TILES), so the card describes what the
    # portal does (it was 16 until 2026-11-29, below the 64 of calibration: benchmarks/detector.md 5m.3).
    eval_tiles: int = DEFAULT_MAX_TILES
    eval_per_class: int = 0
    robustness_per_class: int = 50
    init_checkpoint: str | None = None
    input_representation: str = "rgb"  # "rgb" | "npr" (ml.model.npr)
    stem: str = "imagenet"  # "imagenet" | "small" (ml.config.ModelConfig.stem)
    # Measure bf16/int8 agreement with fp32 on validation and record those that pass (ml.precision_check).
    check_precisions: bool = True
    # Training arithmetic (ml.config.TrainConfig.precision): "auto" | "fp32" | "bf16".
    train_precision: str = "auto"

    def train_config(self, manifest: Path) -> TrainConfig:
        return TrainConfig(
            data=str(manifest), out_dir=self.out_dir, epochs=self.epochs, max_steps=self.max_steps,
            batch_size=self.batch_size, lr=self.lr, warmup_epochs=self.warmup_epochs, seed=self.seed,
            num_workers=self.num_workers, jpeg_prob=self.jpeg_prob, init_checkpoint=self.init_checkpoint,
            precision=self.train_precision,
            model=ModelConfig(input_representation=self.input_representation, stem=self.stem),
            preprocess=PreprocessConfig(input_size=self.input_size, train_crop=self.train_crop))


def _limit(samples: list[Sample], per_class: int, seed: int) -> list[Sample]:
    if not per_class:
        return samples
    rng = random.Random(seed)
    groups: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for s in samples:
        groups[(s.source, s.label)].append(s)
    return sorted((x for g in groups.values() for x in rng.sample(g, min(len(g), per_class))), key=sort_key)


def test_samples(data: str | Path, *, per_class: int = 0, seed: int = 0) -> list[Sample]:
    """Every source's test split (held-out sources included), duplicates of train removed."""
    samples, _ = dedupe_across_splits(load_samples(data))
    return _limit([s for s in samples if s.split == "test"], per_class, seed)


def _predict_p(predictor: Predictor, samples: list[Sample], transform: Any = None,
               batch: int = 16) -> np.ndarray:
    out: list[float] = []
    for i in range(0, len(samples), batch):
        ims = [decode_image(s.read_bytes()) for s in samples[i:i + batch]]
        if transform is not None:
            ims = [transform(im) for im in ims]
        out.extend(p.probability_ai for p in predictor.predict(ims))
    return np.array(out, dtype=float)


def evaluate_per_source(checkpoint: str | Path, samples: list[Sample], *, max_tiles: int,
                        transform: Any = None) -> dict[str, dict[str, Any]]:
    """Metrics per source at the checkpoint's own threshold (chosen on validation)."""
    predictor = Predictor(checkpoint, max_tiles=max_tiles)
    try:
        out = {}
        for src in sorted({s.source or "(none)" for s in samples}):
            group = [s for s in samples if (s.source or "(none)") == src]
            y = np.array([s.target for s in group])
            m = binary_metrics(y, _predict_p(predictor, group, transform), predictor.meta.threshold)
            m["max_tiles"] = max_tiles
            out[src] = m
        return out
    finally:
        predictor.close()


def source_descriptions(data: str | Path, summary: dict[str, Any], samples: list[Sample]) -> list[dict[str, Any]]:
    root = Path(data)
    gens: dict[str, set[str]] = defaultdict(set)
    for s in samples:
        if s.generator:
            gens[s.source or "(none)"].add(s.generator)
    return [{"name": src, "licence": source_licence(root / src), "generators": sorted(gens[src]),
             "counts": summary["counts"][src]} for src in summary["sources"]]


def shortcut_per_source(data: str | Path) -> dict[str, dict[str, Any]]:
    """The file-level shortcut (ml.shortcuts, logistic regression) fitted on each source's train
    split and scored on its test split; held-out sources get the classifier of every train source."""
    samples, _ = dedupe_across_splits(load_samples(data))
    by_src: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_src[s.source or "(none)"].append(s)
    feats = {src: feature_matrix([s.read_bytes() for s in ss]) for src, ss in by_src.items()}
    out: dict[str, dict[str, Any]] = {}
    fitted = {}
    for src, ss in sorted(by_src.items()):
        split = np.array([s.split for s in ss])
        y = np.array([s.target for s in ss])
        if (split == "train").any() and len(set(y[split == "train"])) == 2:
            clf = shortcut_classifiers()["logistic_regression"].fit(feats[src][split == "train"], y[split == "train"])
            fitted[src] = clf
            te = split == "test"
            m = binary_metrics(y[te], clf.predict_proba(feats[src][te])[:, 1], 0.5)
            out[src] = {"classifier": "logistic_regression", "fitted_on": f"{src} train",
                        "accuracy": m["accuracy"], "roc_auc": m["roc_auc"], "n": m["n"]}
    for src, ss in sorted(by_src.items()):
        if src in out or not fitted:
            continue
        y = np.array([s.target for s in ss])
        best = None
        for other, clf in fitted.items():
            m = binary_metrics(y, clf.predict_proba(feats[src])[:, 1], 0.5)
            if best is None or (m["roc_auc"] or 0) > (best["roc_auc"] or 0):
                best = {"classifier": "logistic_regression", "fitted_on": f"{other} train",
                        "accuracy": m["accuracy"], "roc_auc": m["roc_auc"], "n": m["n"]}
        out[src] = best  # type: ignore[assignment]
    return out


def build_card(checkpoint: Path, cfg: RecipeConfig, summary: dict[str, Any], samples: list[Sample],
               metrics: dict[str, dict[str, Any]], robustness: dict[str, Any],
               shortcut: dict[str, dict[str, Any]], training_seconds: float | None, command: str,
               machine: str) -> ModelCard:
    payload = read_checkpoint(checkpoint)
    meta = meta_from_payload(payload)
    val = meta.metrics.get("val") or {}
    trained = summary["sources"]
    not_trained = list(summary["held_out"]) + [
        "any generator not listed under training data (e.g. Midjourney, DALL-E 3, FLUX, Imagen video frames)",
        "images smaller than the tile size (they are enlarged by an integer factor)",
    ]
    notes = [f"Trained on {', '.join(trained)} only; a verdict on other sources or generators is an extrapolation.",
             (f"The model sees {meta.preprocess.input_size} px native-resolution tiles; an image's probability "
              "aggregates its tiles (ml.predict)."),
             "Metrics on held-out sources measure generalisation, not fitted performance."]
    for src, sc in shortcut.items():
        m = metrics.get(src) or {}
        if (sc and sc.get("roc_auc") is not None and m.get("roc_auc") is not None
                and sc["roc_auc"] >= m["roc_auc"] - 0.02):
            notes.append(f"On {src} a file-level shortcut (size, dimensions, JPEG quality) reaches ROC-AUC "
                         f"{sc['roc_auc']:.3f}, as good as the model's {m['roc_auc']:.3f}: that number is not "
                         "evidence of detection.")
    return ModelCard(
        name=meta.name, created=now_iso(), is_demo=meta.is_demo, architecture=meta.model.architecture,
        input_size=meta.preprocess.input_size, input_representation=meta.model.input_representation,
        training_data={"sources": source_descriptions(cfg.data, summary, samples), "held_out": summary["held_out"],
                       "duplicates_dropped_from_val_test": summary["duplicates_dropped_from_val_test"],
                       "repeat": summary["repeat"], "val_per_class": summary.get("val_per_class", 0)},
        recipe={"command": command, "machine": machine, "training_seconds": training_seconds,
                "train_precision": meta.metrics.get("training_precision") or {},
                "train_config": meta.train_config, "recipe_config": asdict(cfg)},
        metrics={src: metric_summary(m) | {"split": "test", "max_tiles": m.get("max_tiles")}
                 for src, m in metrics.items()},
        calibration={"temperature": meta.temperature, "threshold": meta.threshold, "fitted_on": "val",
                     "val_ece": val.get("ece"), "val_n": val.get("n"),
                     # In-sample (the threshold was fitted on these images): what a chain of stages
                     # chooses by (ml.recipe_chain), never a figure to quote.
                     "val_accuracy": val.get("accuracy"), "val_roc_auc": val.get("roc_auc")},
        robustness=robustness, shortcut_baseline=shortcut,
        known_limits={"not_trained_on": not_trained, "notes": notes})


def precision_agreement(cfg: RecipeConfig, checkpoint: Path, samples: list[Sample]) -> dict[str, Any]:
    """bf16/int8 against fp32 on the validation images of every source (ml.precision_check), on the
    served whole-image path; int8 is calibrated on ``cfg.data``'s train split as the worker would be."""
    val = sorted({(s.path, s.member): s for s in samples if s.split == "val"}.values(), key=sort_key)
    groups = {src: (group, np.array([s.target for s in group]))
              for src in sorted({s.source or "(none)" for s in val})
              for group in [[s for s in val if (s.source or "(none)") == src]]}
    if not groups:
        return {}
    return check_precisions(
        checkpoint, groups, predict=_predict_p,
        make_predictor=lambda p: Predictor(checkpoint, max_tiles=cfg.eval_tiles, precision=p,
                                           calibration_data=cfg.data if p == "int8" else None))


def recheck_precisions(checkpoint: Path, data: str | Path, *, val_per_class: int = 150,
                       eval_tiles: int = DEFAULT_MAX_TILES,
                       seed: int = 0, sources: tuple[str, ...] = (), record: bool = False) -> dict[str, Any]:
    """The recipe's precision check on an existing checkpoint, on the validation split the recipe
    would draw from ``data`` (``sources`` limits it). ``record``: write the result into the
    checkpoint (``verified_precisions`` and its card's ``precision``) and the card beside it, as
    the recipe does, so ``auto`` may serve the passing precisions."""
    cfg = RecipeConfig(data=str(data), val_per_class=val_per_class, eval_tiles=eval_tiles, seed=seed,
                       sources=sources)
    samples, _ = training_samples(cfg.data, sources=list(sources) or None, val_per_class=val_per_class,
                                  include_test=False, seed=seed)
    result = precision_agreement(cfg, checkpoint, samples)
    if record and result:
        payload = read_checkpoint(checkpoint)
        if payload.get("model_card"):
            card = card_from_dict(payload["model_card"])
            card.precision = result
            attach_card(checkpoint, card, verified_precisions=result["verified"])
        else:  # no card to update: the record alone
            payload[VERIFIED_KEY] = list(result["verified"])
            atomic_save(payload, checkpoint)
    return result


def attach_card(checkpoint: Path, card: ModelCard, *, verified_precisions: list[str] | None = None) -> None:
    """Store the card inside the checkpoint (key ``model_card``) and beside it (JSON + Markdown);
    ``verified_precisions``: the lower precisions ``auto`` may serve this checkpoint at."""
    payload = read_checkpoint(checkpoint)
    if verified_precisions is not None:
        payload[VERIFIED_KEY] = list(verified_precisions)
    # Through JSON, so the card inside the checkpoint equals the one beside it (tuples -> lists).
    payload["model_card"] = json.loads(json.dumps(card.to_dict()))
    atomic_save(payload, checkpoint)
    write_card(card, checkpoint.parent / CARD_FILE)
    (checkpoint.parent / "model_card.md").write_text(card_markdown(card))


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished children (loader workers).
    On a shared machine wall time says how busy the others were; CPU time says what the recipe costs."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_recipe(cfg: RecipeConfig, *, command: str = "", machine: str = "", show_bar: bool = True,
               log: Any = print) -> tuple[Path, ModelCard]:
    """Train, evaluate per source, measure the re-share robustness and the shortcut, write the card."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples, summary = training_samples(cfg.data, sources=list(cfg.sources) or None, repeat=cfg.repeat,
                                        val_per_class=cfg.val_per_class, include_test=False, seed=cfg.seed)
    manifest = write_training_manifest(samples, out / "train_manifest.csv")
    log(f"Training on {', '.join(summary['sources'])} ({len(samples)} listed images); held out: "
        f"{', '.join(summary['held_out']) or 'none'}.")
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    result = train(cfg.train_config(manifest), show_bar=show_bar, name=cfg.name)
    training_seconds = time.perf_counter() - t0
    training_cpu_seconds = _cpu_seconds() - cpu0
    log(f"Trained in {training_seconds:.0f} s wall, {training_cpu_seconds:.0f} s CPU: {result.checkpoint}")
    card = finish_recipe(cfg, result.checkpoint, summary, samples, training_seconds=training_seconds,
                         training_cpu_seconds=training_cpu_seconds, command=command, machine=machine, log=log)
    return result.checkpoint, card


def finish_recipe(cfg: RecipeConfig, checkpoint: Path, summary: dict[str, Any], samples: list[Sample], *,
                  training_seconds: float | None, training_cpu_seconds: float | None, command: str,
                  machine: str, log: Any = print,
                  shortcut: dict[str, dict[str, Any]] | None = None) -> ModelCard:
    """Everything after training: per-source test metrics, re-share robustness, shortcut baseline,
    and the model card attached to ``checkpoint``. ``shortcut``: the baseline already measured on
    the same data (it does not depend on the model), else it is measured here."""
    tests = test_samples(cfg.data, per_class=cfg.eval_per_class, seed=cfg.seed)
    metrics = evaluate_per_source(checkpoint, tests, max_tiles=cfg.eval_tiles)
    log("Test metrics per source: " + json.dumps({k: {m: v[m] for m in ("n", "accuracy", "roc_auc")}
                                                   for k, v in metrics.items()}))
    robust_set = _limit(tests, cfg.robustness_per_class, cfg.seed)
    robustness: dict[str, Any] = {"chain": RESHARE_CHAIN, "per_class": cfg.robustness_per_class, "results": {}}
    if cfg.robustness_per_class:
        clean = evaluate_per_source(checkpoint, robust_set, max_tiles=cfg.eval_tiles)
        shared = evaluate_per_source(checkpoint, robust_set, max_tiles=cfg.eval_tiles, transform=reshare)
        robustness["results"] = {src: {"clean": {k: clean[src][k] for k in ("n", "accuracy", "roc_auc")},
                                       "reshared": {k: shared[src][k] for k in ("n", "accuracy", "roc_auc")}}
                                 for src in clean}
    if shortcut is None:
        shortcut = shortcut_per_source(cfg.data)
    precision = precision_agreement(cfg, checkpoint, samples) if cfg.check_precisions else {}
    if precision:
        log("Lower precisions that agree with fp32 on validation: "
            + (", ".join(precision["verified"]) or "none"))
    card = build_card(checkpoint, cfg, summary, samples, metrics, robustness, shortcut,
                      training_seconds, command, machine)
    card.recipe["training_cpu_seconds"] = training_cpu_seconds
    card.precision = precision
    attach_card(checkpoint, card, verified_precisions=precision.get("verified") if precision else None)
    log(f"Model card written: {checkpoint.parent / CARD_FILE}")
    return card
