"""Whole-image analysis: classify every tile of an image, aggregate, and stitch one Grad-CAM map
over the whole image (what the worker serves; see :mod:`ml.tiling` for the geometry and the
rules, :mod:`ml.tilemaps` for the stitching).

Grad-CAM without a backward pass. For ResNet50 the layer Grad-CAM reads (``layer4``) is followed
only by global average pooling and the linear head, so the gradient of a logit with respect to
the activations is the same at every position: ``W[c] / (h * w)``. Grad-CAM's channel weights are
then exactly the head's weights, and the map of the decision ``logit(verdict) - logit(other)``
is ``relu(sum_k (W[v, k] - W[o, k]) * A_k) / (h * w)``: one forward pass gives the maps of every
tile for either verdict (tests compare it with pytorch-grad-cam). That keeps the cost of
explaining a 12-megapixel photo's ~250 tiles at the cost of classifying them, and leaves the raw
values on one scale across the tiles of an image and across images: the stored map is each
cell's share of the verdict's calibrated log-odds on :func:`ml.heatmaps.fixed_scale`
(pytorch-grad-cam stretches each map to [0, 1] on its own, which would make weak evidence look as
hot as strong evidence).

Faithfulness check per image (``check_faithfulness``): on the decisive tile, the top 20 % of its
Grad-CAM area is blurred, and so are ``draws`` random blob regions of the same size
(:mod:`ml.faithfulness`); the drop in the verdict's log-odds for that tile is compared. A map
whose own region does not hurt the verdict more than random regions is flagged "not faithful for
this image". It costs ``1 + draws`` extra tile forwards per image.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter

from . import tilemaps
from .heatmaps import FULL_SCALE_LOG_ODDS
from .model import gradcam_target_layer
from .calibration import choose_threshold, fit_rule_temperature
from .config import PreprocessConfig
from .faithfulness import blur_region, random_blob_mask, top_mask
from .predict import Predictor
from .preprocess import CropBox, to_batch
from .tiling import (
    DEFAULT_MAX_TILES,
    DEFAULT_RULE,
    TilePlan,
    aggregate,
    cut_tiles,
    decisive_tile,
    judged_fraction,
    plan_tiles,
)

FAITHFUL_FRACTION = 0.2  # share of the tile blurred, as in ml.faithfulness
FAITHFUL_DRAWS = 3


@dataclass
class WholeImagePrediction:
    label: str
    probability_ai: float  # calibrated p(ai_generated) of the image under ``rule``
    confidence: float
    threshold: float
    rule: str
    tile_size: int
    max_tiles: int
    boxes: list[CropBox]  # every judged tile, original pixel coordinates
    tile_probabilities: list[float]  # each tile's own calibrated p(ai_generated)
    decisive: int  # index into boxes of the tile that speaks most for the verdict
    judged_fraction: float  # share of the image's pixels some tile covered
    full_grid: int  # tiles needed to cover everything (> len(boxes): the budget thinned the grid)
    heatmap: np.ndarray | None = None  # H x W float32 in [0, 1], NaN where not judged
    heatmap_scale: float = 0.0  # the log-odds share that maps to 1.0 (ml.heatmaps.FULL_SCALE_LOG_ODDS)
    faithfulness: dict[str, Any] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    rechecked: bool = False  # judged again by the fp32 model: int8's verdict lay at the threshold

    def tiles_json(self) -> list[dict[str, Any]]:
        return [{"box": [b.left, b.top, b.width, b.height], "probability_ai": round(p, 6)}
                for b, p in zip(self.boxes, self.tile_probabilities)]


class _GradCamActivations:
    """Forward hook that keeps the last output of the Grad-CAM layer (:func:`ml.model.gradcam_target_layer`:
    ``layer4``'s last block, or for a bf16/int8 model of ``ml.precision`` the fp32 output of its backbone)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.value: torch.Tensor | None = None
        self._handle = gradcam_target_layer(model).register_forward_hook(self._keep)

    def _keep(self, _m: object, _i: object, output: torch.Tensor) -> None:
        self.value = output.detach()

    def remove(self) -> None:
        self._handle.remove()
        self.value = None


def _decision_weights(model: torch.nn.Module) -> torch.Tensor:
    """W[ai] - W[real] of the linear head: the Grad-CAM channel weights of the margin."""
    fc: Any = model.fc  # the head is an nn.Linear (torchvision ResNet or LowPrecisionResNet)
    w = fc.weight.detach().float()
    return (w[1] - w[0]).cpu()


def tile_forward(model: torch.nn.Module, preprocess: PreprocessConfig, device: torch.device,
                 crops: Sequence[Image.Image], *, chunk: int = 32,
                 with_cams: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Margins ``logit(ai) - logit(real)`` of every crop, and the signed margin Grad-CAM maps on
    the layer4 grid (``relu(+map)`` explains an AI verdict, ``relu(-map)`` a real one). Crops are
    run ``chunk`` at a time, so memory is bounded however many tiles an image has."""
    pre = preprocess
    hook = _GradCamActivations(model) if with_cams else None
    weights = _decision_weights(model) if with_cams else None
    margins: list[np.ndarray] = []
    cams: list[np.ndarray] = []
    try:
        for start in range(0, len(crops), max(1, chunk)):
            batch = to_batch(crops[start:start + chunk], pre).to(device, memory_format=torch.channels_last)
            with torch.inference_mode():
                logits = model(batch).float().cpu()
                margins.append((logits[:, 1] - logits[:, 0]).numpy())
                if hook is not None and hook.value is not None:
                    acts = hook.value.float().cpu()
                    area = acts.shape[-1] * acts.shape[-2]
                    cams.append((torch.einsum("nkhw,k->nhw", acts, weights) / area).numpy())
    finally:
        if hook is not None:
            hook.remove()
    return np.concatenate(margins), (np.concatenate(cams) if with_cams else None)


def faithfulness_variants(crop: Image.Image, cam: np.ndarray, *, draws: int, seed: int,
                          fraction: float = FAITHFUL_FRACTION) -> list[Image.Image] | None:
    """[top-area blurred, random area blurred x draws] for one tile, or None for a flat map."""
    size = crop.width
    heat = tilemaps.resize_map(cam, size, size)
    if float(heat.max()) <= float(heat.min()):
        return None
    rng = np.random.default_rng(seed)
    sigma = max(2.0, size / 16)
    blurred = np.asarray(crop.filter(ImageFilter.GaussianBlur(radius=sigma)))
    out = [blur_region(crop, top_mask(heat, fraction, rng), sigma, blurred)]
    out += [blur_region(crop, random_blob_mask(size, fraction, rng), sigma, blurred) for _ in range(draws)]
    return out


def faithfulness_verdict(margins: np.ndarray, sign: float, temperature: float) -> dict[str, Any]:
    """From the margins of [tile, top-blurred, random-blurred...]: drops in the verdict's log-odds."""
    lo = sign * np.asarray(margins, dtype=np.float64) / temperature
    drop_gc = float(lo[0] - lo[1])
    drop_rnd = float(np.mean(lo[0] - lo[2:]))
    return {"drop_gradcam": round(drop_gc, 6), "drop_random": round(drop_rnd, 6),
            "draws": int(len(lo) - 2), "faithful": bool(drop_gc > drop_rnd)}


def analyse(predictor: Predictor, images: Sequence[Image.Image], *, max_tiles: int,
            rule: str = DEFAULT_RULE, explain: bool = True, check_faithfulness: bool = True,
            chunk: int = 32, draws: int = FAITHFUL_DRAWS, seed: int = 0) -> list[WholeImagePrediction]:
    """Judge each image on its tiles (at most ``max_tiles``), aggregate with ``rule``, and (with
    ``explain``) stitch the Grad-CAM map of the verdict over the whole image."""
    meta, size = predictor.meta, predictor.meta.preprocess.input_size
    t0 = time.perf_counter()
    plans: list[TilePlan] = []
    crops: list[Image.Image] = []
    for im in images:
        rgb = im.convert("RGB")
        plan = plan_tiles(rgb.width, rgb.height, size, max_tiles)
        plans.append(plan)
        crops.extend(cut_tiles(rgb, plan))
    t1 = time.perf_counter()
    margins, cams = tile_forward(predictor.model, meta.preprocess, predictor.device, crops, chunk=chunk,
                                 with_cams=explain)
    t_recheck = time.perf_counter()
    rechecked = _recheck(predictor, plans, crops, margins, cams, rule=rule, chunk=chunk)
    t2 = time.perf_counter()
    out: list[WholeImagePrediction] = []
    checks: list[tuple[int, float, list[Image.Image] | None]] = []
    firsts: list[int] = []  # index of each image's first tile in ``crops``
    start = 0
    for i, plan in enumerate(plans):
        firsts.append(start)
        n = len(plan.boxes)
        z = margins[start:start + n]
        p = aggregate(z, meta.temperature, rule)
        lab = int(p >= meta.threshold)
        sign = 1.0 if lab == 1 else -1.0
        dec = decisive_tile(z, lab)
        pred = WholeImagePrediction(
            label=predictor.classes[lab], probability_ai=p, confidence=p if lab == 1 else 1 - p,
            threshold=meta.threshold, rule=rule, tile_size=size, max_tiles=max_tiles, boxes=list(plan.boxes),
            tile_probabilities=[float(v) for v in 1 / (1 + np.exp(-np.clip(z / meta.temperature, -60, 60)))],
            decisive=dec, judged_fraction=judged_fraction(plan.width, plan.height, plan.boxes),
            full_grid=plan.full_grid)
        if cams is not None:
            tile_maps = np.maximum(sign * cams[start:start + n], 0.0)
            # Each cell's share of the verdict's calibrated log-odds (its margin term times the
            # number of cells, over the temperature), drawn on the scale every image shares, so a
            # weak verdict's map stays cool instead of being stretched to full red (issue #18).
            cells = tile_maps.shape[-1] * tile_maps.shape[-2]
            shares = tile_maps * cells / meta.temperature
            pred.heatmap = tilemaps.on_fixed_scale(tilemaps.stitch(plan.width, plan.height, plan.boxes, list(shares)))
            pred.heatmap_scale = FULL_SCALE_LOG_ODDS
            if check_faithfulness:
                checks.append((i, sign, faithfulness_variants(crops[start + dec], tile_maps[dec],
                                                              draws=draws, seed=seed)))
        out.append(pred)
        start += n
    t3 = time.perf_counter()
    if checks:
        # Each image's variants through the model that judged it (the fp32 reference for a recheck).
        vz: dict[int, np.ndarray] = {}
        for model, mine in ((predictor.model, [c for c in checks if c[0] not in rechecked]),
                            (predictor.reference, [c for c in checks if c[0] in rechecked])):
            variants = [v for _, _, vs in mine if vs is not None for v in vs]
            if model is None or not variants:
                continue
            z = tile_forward(model, meta.preprocess, predictor.device, variants, chunk=chunk, with_cams=False)[0]
            j = 0
            for i, _, vs in mine:
                if vs is not None:
                    vz[i], j = z[j:j + len(vs)], j + len(vs)
        for i, sign, vs in checks:
            if vs is None:  # a flat map ranks nothing: it cannot point at evidence
                out[i].faithfulness = {"faithful": False, "flat": True, "tile": out[i].decisive}
                continue
            ref = margins[firsts[i] + out[i].decisive]
            got = faithfulness_verdict(np.concatenate([[ref], vz[i]]), sign, meta.temperature)
            out[i].faithfulness = {**got, "tile": out[i].decisive, "fraction": FAITHFUL_FRACTION}
    t4 = time.perf_counter()
    per = len(images) or 1
    timings = {"tiling": (t1 - t0) * 1e3 / per, "inference_gradcam": (t_recheck - t1) * 1e3 / per,
               "stitching": (t3 - t2) * 1e3 / per}
    if checks:
        timings["faithfulness"] = (t4 - t3) * 1e3 / per
    if predictor.reference is not None:  # int8 with the fp32 recheck at the threshold
        timings["recheck_fp32"] = (t2 - t_recheck) * 1e3 / per
    for i, pred in enumerate(out):
        pred.timings_ms = dict(timings)
        pred.rechecked = i in rechecked
    return out


def _recheck(predictor: Predictor, plans: Sequence[TilePlan], crops: Sequence[Image.Image], margins: np.ndarray,
             cams: np.ndarray | None, *, rule: str, chunk: int) -> set[int]:
    """Judge the images whose low-precision verdict lies at the threshold again with the fp32
    reference (``Predictor.recheck_rows``), replacing their tiles' margins and maps in place; returns
    their indices."""
    near, rows = predictor.recheck_rows(margins, [len(plan.boxes) for plan in plans], rule)
    if not rows or predictor.reference is None:
        return set()
    z, maps = tile_forward(predictor.reference, predictor.meta.preprocess, predictor.device, [crops[r] for r in rows],
                           chunk=chunk, with_cams=cams is not None)
    margins[rows] = z
    if cams is not None and maps is not None:
        cams[rows] = maps
    return set(near)


def image_margins(model: torch.nn.Module, preprocess: PreprocessConfig, device: torch.device,
                  images: Iterable[Image.Image], *, max_tiles: int, chunk: int = 32) -> list[np.ndarray]:
    """Each image's tile margins (the input of every rule in :data:`ml.tiling.RULES`), images
    decoded one at a time by the caller's iterable so a whole split never sits in memory."""
    out = []
    for im in images:
        rgb = im.convert("RGB")
        plan = plan_tiles(rgb.width, rgb.height, preprocess.input_size, max_tiles)
        out.append(tile_forward(model, preprocess, device, cut_tiles(rgb, plan), chunk=chunk, with_cams=False)[0])
    return out


def calibrate_served(margins: list[np.ndarray], targets: np.ndarray, *,
                     rule: str = DEFAULT_RULE) -> tuple[float, float, np.ndarray]:
    """Temperature and threshold fitted on validation images judged as the portal judges them
    (their tiles, aggregated with ``rule``); returns (temperature, threshold, validation p_ai)."""
    temperature = fit_rule_temperature(margins, targets, rule)
    p = np.array([aggregate(z, temperature, rule) for z in margins])
    threshold = choose_threshold(torch.as_tensor(targets), torch.as_tensor(p))
    return temperature, threshold, p


def served_calibration(model: torch.nn.Module, preprocess: PreprocessConfig, device: torch.device,
                       val: Sequence[Any], test: Sequence[Any], *, max_tiles: int = DEFAULT_MAX_TILES,
                       rule: str = DEFAULT_RULE) -> dict[str, Any] | None:
    """Calibrate on validation ``Sample``s judged as the portal judges them and score ``test`` the
    same way: {"temperature", "threshold", "val", "test", "calibrated_on"}; None without validation
    images. Validation metrics are in-sample (the temperature and threshold were fitted there)."""
    from .imageio import decode_image
    from .metrics import binary_metrics

    if not val:
        return None
    model.eval()

    def margins(samples: Sequence[Any]) -> list[np.ndarray]:
        return image_margins(model, preprocess, device, (decode_image(s.read_bytes()) for s in samples),
                             max_tiles=max_tiles)

    yv = np.array([s.target for s in val])
    temperature, threshold, pv = calibrate_served(margins(val), yv, rule=rule)
    out: dict[str, Any] = {"temperature": temperature, "threshold": threshold,
                           "calibrated_on": {"rule": rule, "max_tiles": max_tiles, "split": "val"},
                           "val": {**binary_metrics(yv, pv, threshold), "in_sample": True}}
    if test:
        yt = np.array([s.target for s in test])
        pt = np.array([aggregate(z, temperature, rule) for z in margins(test)])
        out["test"] = binary_metrics(yt, pt, threshold)
    return out
