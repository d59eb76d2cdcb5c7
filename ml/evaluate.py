"""Evaluation of a checkpoint on a labelled split.

The decision threshold and temperature come from the checkpoint, where training chose them on
the validation split; nothing here is tuned on the split being evaluated.

The result (JSON-ready) has the overall metrics of :func:`ml.metrics.binary_metrics` at the top
level (``n, threshold, accuracy, precision, recall, f1, roc_auc, average_precision, ece,
confusion_matrix``) plus:

* ``split``, ``checkpoint_sha256``, ``max_tiles``, ``temperature``;
* ``split_seed``: the seed that split unsplit data (by default the checkpoint's own training seed);
* ``excluded_trained_on``: images of the split left out because the checkpoint, or a checkpoint it
  was fine-tuned from, trained on them (by SHA-256); ``copies_moved_to_their_earlier_split``;
* ``warnings``: sentences about anything that weakens the "never seen" promise (another seed or
  other data than the checkpoint's, a checkpoint without its list of training images);
* ``reliability``: the reliability-diagram bins (``lo, hi, count, confidence, accuracy``);
* ``by_source`` and ``by_generator``: the same metrics per source and per generator value
  (``"(none)"`` for an empty value, so real images usually form their own group; a group with a
  single class has ``roc_auc`` and ``average_precision`` null);
* ``faithfulness``: see :mod:`ml.faithfulness` (only when asked for; it costs a Grad-CAM pass
  and four more forward passes per image);
* ``plots``: file names written into ``out_dir`` (``confusion_matrix.png``, ``roc_curve.png``,
  ``reliability.png``) when one is given.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .checkpoint import CheckpointMeta
from .data.sources import Sample, load_samples
from .errors import MLError
from .imageio import decode_image
from .metrics import binary_metrics, reliability_bins
from .predict import Predictor
from .data.sources import fingerprint
from .splits import split_samples

logger = logging.getLogger(__name__)

EVALUATION_JSON = "evaluation.json"
CONFUSION_PNG = "confusion_matrix.png"
ROC_PNG = "roc_curve.png"
RELIABILITY_PNG = "reliability.png"


def _decode(sample: Sample) -> Image.Image:
    try:
        return decode_image(sample.read_bytes())
    except MLError as exc:
        raise MLError(f"{sample.ref}: {exc} Remove it from the dataset or run `python -m ml analyse` "
                      "to list every unreadable file.") from exc


def _grouped(samples: list[Sample], y: np.ndarray, p: np.ndarray, threshold: float,
             key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        groups[getattr(s, key) or "(none)"].append(i)
    return {name: binary_metrics(y[idx], p[idx], threshold) for name, idx in sorted(groups.items())}


def unseen_split(meta: CheckpointMeta, data: str | Path, split: str, seed: int | None = None
                 ) -> tuple[list[Sample], dict[str, Any]]:
    """The samples of ``split`` of ``data`` that the checkpoint never trained on, and a report.

    Unsplit data is split with the checkpoint's own training seed unless ``seed`` says otherwise;
    whatever the split, every image the checkpoint's lineage trained on is left out by content."""
    own_seed = int(meta.train_config.get("seed", 0) or 0)
    used_seed = own_seed if seed is None else int(seed)
    warnings: list[str] = []
    loaded = load_samples(data)
    samples, moved = split_samples(loaded, seed=used_seed)
    if used_seed != own_seed and not all(s.split for s in loaded):
        warnings.append(f"The data was split with seed {used_seed}, but the checkpoint was trained with seed "
                        f"{own_seed}; its training images are still left out by content.")
    if meta.data_fingerprint and fingerprint(samples) != meta.data_fingerprint:
        warnings.append("This data (or its split) differs from the data the checkpoint was trained on; images it "
                        "trained on are left out by content, but the split is not the one training held out.")
    chosen = [s for s in samples if s.split == split]
    if not chosen:
        raise MLError(f"No images in split {split!r} of {data}.")
    if not meta.trained_on:
        warnings.append("This checkpoint does not list the images it trained on (it predates that record), so "
                        "only the seed and the data keep its training images out of this split.")
    unseen = [s for s in chosen if s.sha256 not in meta.trained_on]
    if not unseen:
        raise MLError(f"Every image in split {split!r} of {data} was used to train this checkpoint (or a model it "
                      "was fine-tuned from): there is nothing unseen to evaluate on.")
    report = {"split_seed": used_seed, "excluded_trained_on": len(chosen) - len(unseen),
              "copies_moved_to_their_earlier_split": moved, "warnings": warnings}
    for w in warnings:
        logger.warning("%s", w)
    return unseen, report


def evaluate(checkpoint: str | Path, data: str | Path, *, split: str = "test",
             batch_size: int = 32, device: str = "auto", seed: int | None = None, max_tiles: int = 1,
             faithfulness: bool = False, out_dir: str | Path | None = None,
             progress: bool = False) -> dict[str, Any]:
    """Metrics of ``checkpoint`` on ``split`` of ``data``; plots and JSON into ``out_dir`` if given.
    ``seed``: splits unsplit data; by default the checkpoint's own training seed."""
    predictor = Predictor(checkpoint, device=device, max_tiles=max_tiles)
    try:
        samples, report = unseen_split(predictor.meta, data, split, seed)
        probs: list[float] = []
        chunks = range(0, len(samples), batch_size)
        if progress:
            from tqdm import tqdm

            chunks = tqdm(chunks, desc=f"Evaluating {split}", unit="batch")
        for i in chunks:
            preds = predictor.predict([_decode(s) for s in samples[i:i + batch_size]])
            probs.extend(p.probability_ai for p in preds)
        y = np.array([s.target for s in samples])
        p = np.array(probs)
        threshold = predictor.meta.threshold
        result = binary_metrics(y, p, threshold)
        result.update({
            "split": split, "checkpoint_sha256": predictor.checkpoint_sha256, "max_tiles": max_tiles,
            "temperature": predictor.meta.temperature, "reliability": reliability_bins(y, p),
            "by_source": _grouped(samples, y, p, threshold, "source"),
            "by_generator": _grouped(samples, y, p, threshold, "generator"), **report,
        })
        if faithfulness:
            from .faithfulness import faithfulness as measure

            def images() -> Iterator[Image.Image]:
                for s in samples:
                    yield _decode(s)

            result["faithfulness"] = measure(predictor, images(), seed=report["split_seed"])
        if out_dir is not None:
            result["plots"] = write_plots(result, y, p, out_dir)
            (Path(out_dir) / EVALUATION_JSON).write_text(json.dumps(result, indent=2))
        return result
    finally:
        predictor.close()


def write_plots(result: dict[str, Any], y: np.ndarray, p: np.ndarray, out_dir: str | Path) -> dict[str, str]:
    from .plots import confusion_matrix_plot, reliability_plot, roc_curve_plot

    out = Path(out_dir)
    confusion_matrix_plot(result["confusion_matrix"], out / CONFUSION_PNG)
    roc_curve_plot(y, p, out / ROC_PNG, auc=result["roc_auc"])
    reliability_plot(result["reliability"], out / RELIABILITY_PNG, ece=result["ece"])
    return {"confusion_matrix": CONFUSION_PNG, "roc_curve": ROC_PNG, "reliability": RELIABILITY_PNG}
