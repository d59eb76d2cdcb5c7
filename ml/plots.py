"""PNG plots for the dataset and model dashboards, drawn with matplotlib's Agg canvas.

Each function builds its own ``Figure`` and renders it with ``FigureCanvasAgg``: no pyplot, so
no global figure state or GUI backend, and it is safe in a worker process or a web request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import CLASSES


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    return path


def class_balance_plot(split_class: dict[str, dict[str, int]], path: str | Path) -> Path:
    """Grouped bars: images per class within each split."""
    splits = list(split_class) or ["(none)"]
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    x = np.arange(len(splits))
    width = 0.8 / len(CLASSES)
    for i, cls in enumerate(CLASSES):
        values = [split_class.get(s, {}).get(cls, 0) for s in splits]
        bars = ax.bar(x + (i - (len(CLASSES) - 1) / 2) * width, values, width, label=cls)
        ax.bar_label(bars, fontsize=8)
    ax.set_xticks(x, splits)
    ax.set_ylabel("images")
    ax.set_title("Class balance per split")
    ax.legend()
    return _save(fig, path)


def size_histogram_plot(short_sides: list[int], path: str | Path) -> Path:
    """Histogram of each image's shorter side, in pixels."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    if short_sides:
        ax.hist(short_sides, bins=min(30, max(1, len(set(short_sides)))), color="#4c72b0")
    ax.set_xlabel("shorter side (pixels)")
    ax.set_ylabel("images")
    ax.set_title("Image sizes")
    return _save(fig, path)


def confusion_matrix_plot(matrix: list[list[int]], path: str | Path) -> Path:
    """Rows are the true class, columns the predicted class, each cell labelled with its count."""
    m = np.asarray(matrix)
    fig = Figure(figsize=(4, 3.6))
    ax = fig.add_subplot()
    ax.imshow(m, cmap="Blues")
    for (r, c), v in np.ndenumerate(m):
        ax.text(c, r, str(v), ha="center", va="center",
                color="white" if v > m.max() / 2 else "black")
    ax.set_xticks(range(len(CLASSES)), CLASSES)
    ax.set_yticks(range(len(CLASSES)), CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")
    return _save(fig, path)


def roc_curve_plot(y_true: np.ndarray, p_pos: np.ndarray, path: str | Path,
                   auc: float | None = None) -> Path:
    """ROC curve of p(ai_generated); a diagonal only when the data has a single class."""
    from sklearn.metrics import roc_curve

    fig = Figure(figsize=(4, 4))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    if len(set(np.asarray(y_true).tolist())) == 2:
        fpr, tpr, _ = roc_curve(y_true, p_pos)
        ax.plot(fpr, tpr, label=f"AUC = {auc:.3f}" if auc is not None else None)
        if auc is not None:
            ax.legend(loc="lower right")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve")
    return _save(fig, path)


def reliability_plot(bins: list[dict[str, Any]], path: str | Path, ece: float | None = None) -> Path:
    """Reliability diagram: accuracy against mean confidence per confidence bin."""
    fig = Figure(figsize=(4, 4))
    ax = fig.add_subplot()
    ax.plot([0.5, 1], [0.5, 1], linestyle="--", color="grey", linewidth=1)
    filled = [b for b in bins if b["count"]]
    if filled:
        centres = [(b["lo"] + b["hi"]) / 2 for b in filled]
        ax.bar(centres, [b["accuracy"] for b in filled], width=filled[0]["hi"] - filled[0]["lo"],
               edgecolor="black", alpha=0.7, label="accuracy")
        ax.plot([b["confidence"] for b in filled], [b["accuracy"] for b in filled], "o", color="black",
                markersize=3)
    ax.set_xlim(0.5, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability (ECE = {ece:.3f})" if ece is not None else "Reliability")
    return _save(fig, path)
