"""Training: a plain loop in the style of torchvision's classification references.

``train(config)`` reads the dataset, trains ResNet50, keeps the best epoch by validation loss,
fits temperature scaling and the decision threshold on validation, evaluates on test, and writes
``<out_dir>/model.pt`` (a self-describing checkpoint), ``config.json``, ``metrics.jsonl`` and
``last.pt`` (the training state after the last finished epoch, for ``resume=True``; deleted when
the run finishes unless ``keep_last_state``).

Progress goes to the ``progress`` callback as events: ``epoch``, ``early_stop``, ``cancelled``,
``resumed`` and ``done`` (also appended to ``metrics.jsonl``), and live ``step`` events within an
epoch (at most one per ``config.progress_every_s`` plus the last step of each epoch). Step events
are only for the callback: at one line every two seconds they would fill metrics.jsonl with
running averages that the epoch lines already summarise.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from . import CLASSES
from .calibration import choose_threshold, fit_temperature
from .checkpoint import CheckpointMeta, atomic_save, init_from_checkpoint, meta_from_payload, read_checkpoint, \
    save_checkpoint
from .wholeimage import served_calibration
from .config import TrainConfig, upgrade_config_dict
from .data.dataset import ImageDataset
from .data.demo import DEMO_GENERATOR
from .data.sources import Sample, fingerprint, load_samples
from .device import select_device
from .errors import MLError, TrainingCancelled
from .metrics import binary_metrics
from .model import build_model
from .precision import native_precisions
from .preprocess import Augment
from .splits import make_splits, split_samples

ProgressFn = Callable[[dict[str, Any]], None]
logger = logging.getLogger(__name__)

# Whether ``precision="auto"`` trains in bf16 autocast on a CPU with native bf16 (AMX or
# AVX512-BF16, as ml.precision.native_precisions decides for inference). Set by measurement: the
# recipe, cifake only, 2 epochs, seeds 0 and 1, fp32 against bf16 (benchmarks/bf16_training.md).
# True (2026-11-27, quiet re-run on a Zen 4 EPYC with AVX512-BF16): bf16 kept accuracy and ROC-AUC
# on both seeds and cost 13 % fewer training CPU seconds on average (629 vs 721; one seed's pair
# was even, 701 vs 690). A first, confounded series under a varying load had left it False.
CPU_AUTO_BF16 = True


@dataclass(frozen=True)
class TrainPrecision:
    """The arithmetic a run trains in, what was asked for, and why (recorded in its metrics)."""

    precision: str  # "fp32" | "bf16"
    requested: str  # "auto" | "fp32" | "bf16"
    reason: str

    @property
    def autocast(self) -> bool:
        return self.precision == "bf16"

    def to_dict(self) -> dict[str, str]:
        return {"precision": self.precision, "requested": self.requested, "reason": self.reason}


def resolve_train_precision(requested: str, device: torch.device) -> TrainPrecision:
    """The precision a run asking for ``requested`` trains in on ``device``.

    ``fp32`` is always fp32. ``bf16`` autocasts (on a CPU without native bf16 it is emulated and
    slower, with a warning; a CUDA device without bf16 is refused). ``auto``: bf16 on a CUDA device
    with bf16; on a CPU bf16 only where it is native and CPU_AUTO_BF16 holds; else fp32."""
    if requested == "fp32":
        return TrainPrecision("fp32", requested, "as configured")
    native = "bf16" in native_precisions(device)
    if requested == "bf16":
        if native:
            return TrainPrecision("bf16", requested, "as configured")
        if device.type != "cpu":
            raise MLError(f"Training precision bf16 was asked for, but this {device.type} device does not support "
                          "bf16. Use precision fp32 (--train-precision fp32) or auto.")
        logger.warning("training precision bf16 asked for, but this CPU lacks native bf16 (AMX/AVX512-BF16): "
                       "it is emulated and slower than fp32")
        return TrainPrecision("bf16", requested, "as configured; bf16 is not native on this CPU (emulated, slow)")
    if requested != "auto":
        raise MLError(f"Unknown training precision {requested!r}; choose auto, fp32 or bf16.")
    if not native:
        return TrainPrecision("fp32", requested, f"bf16 is not native on this {device.type}")
    if device.type == "cuda":
        return TrainPrecision("bf16", requested, "CUDA with bf16 support")
    if device.type == "cpu" and CPU_AUTO_BF16:
        return TrainPrecision("bf16", requested, "native bf16 on this CPU (benchmarks/bf16_training.md)")
    return TrainPrecision("fp32", requested, f"auto trains in fp32 on a {device.type} "
                          "(benchmarks/bf16_training.md)")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    checkpoint: Path
    metrics: dict[str, Any]


def _augment(config: TrainConfig) -> Augment:
    return Augment(hflip=config.hflip, jpeg_prob=config.jpeg_prob,
                   jpeg_quality=tuple(config.jpeg_quality),  # type: ignore[arg-type]
                   blur_prob=config.blur_prob, blur_sigma=tuple(config.blur_sigma))  # type: ignore[arg-type]


def _loader(samples: list[Sample], config: TrainConfig, *, train: bool,
            generator: torch.Generator | None = None, batchnorm_updates: bool | None = None) -> DataLoader:
    """A loader; the training one shuffles with ``generator``, whose state is saved for resuming.

    ``batchnorm_updates`` (default: ``train``): the model sees these batches in train mode, where
    BatchNorm cannot normalise a batch of one image (with 1x1 feature maps it raises). When the
    last batch would hold exactly one image it is dropped: one image, a different one each epoch
    since the order is shuffled. Dropping every incomplete batch would instead discard up to
    batch_size - 1 images per epoch, a real share of a small dataset.
    """
    if batchnorm_updates is None:
        batchnorm_updates = train
    lone_last = len(samples) > 1 and len(samples) % config.batch_size == 1
    ds = ImageDataset(samples, config.preprocess, train=train,
                      augment=_augment(config) if train else None, seed=config.seed,
                      cache_bytes=config.decode_cache_mb * 2**20 if train else 0)
    return DataLoader(ds, batch_size=config.batch_size, shuffle=train,
                      generator=generator if train else None,
                      num_workers=config.num_workers, drop_last=batchnorm_updates and lone_last)


@torch.inference_mode()
def predict_logits(model: nn.Module, loader: DataLoader, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    outs, targets = [], []
    for x, y in loader:
        outs.append(model(x.to(device, memory_format=torch.channels_last)).float().cpu())
        targets.append(y)
    if not outs:
        return torch.empty(0, len(CLASSES)), torch.empty(0, dtype=torch.long)
    return torch.cat(outs), torch.cat(targets)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, loader: DataLoader, device: torch.device, batches: int) -> None:
    """Replace every BatchNorm's running mean and variance by their plain average over
    ``batches`` batches of ``loader`` (weights untouched)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: each batch weighs the same
    model.train()
    for i, (x, _) in enumerate(loader):
        if i >= batches:
            break
        model(x.to(device, memory_format=torch.channels_last))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.eval()


def _lr_at(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay from ``base`` towards 0."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class EarlyStopping:
    """Keeps the best validation loss and says when ``patience`` epochs have not improved it."""

    patience: int = 0  # 0: never stop early
    min_delta: float = 1e-6
    best: float = float("inf")
    bad_epochs: int = 0

    def update(self, val_loss: float) -> tuple[bool, bool]:
        """Record one epoch; returns (improved, stop)."""
        if val_loss < self.best - self.min_delta:
            self.best, self.bad_epochs = val_loss, 0
            return True, False
        self.bad_epochs += 1
        return False, bool(self.patience) and self.bad_epochs >= self.patience


STATE_FILE = "last.pt"
STATE_KIND = "verity-training-state"
# Config fields that may differ between a run and its resumption without changing the result.
# ``device`` and ``precision`` are checked by what they resolved to (_resume_device, _resume_precision).
_RESUME_FREE = {"out_dir", "num_workers", "device", "precision", "keep_last_state", "progress_every_s"}


def _rng_state(loader_gen: torch.Generator) -> dict[str, Any]:
    py = random.getstate()
    # The global RandomState's MT19937 state: a tuple (legacy=True, the default), not the dict form.
    np_state = cast("tuple[str, Any, int, int, float]", np.random.get_state())
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "loader": loader_gen.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], loader_gen: torch.Generator) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    loader_gen.set_state(state["loader"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_state(path: Path, *, config: TrainConfig, epoch: int, step: int, model: nn.Module,
                opt: torch.optim.Optimizer, stopper: EarlyStopping,
                best_state: dict[str, torch.Tensor] | None, loader_gen: torch.Generator,
                precision: dict[str, Any]) -> None:
    """Everything needed to continue after ``epoch`` finished epochs, as a plain dict of tensors,
    numbers and lists that ``torch.load(weights_only=True)`` accepts."""
    atomic_save({
        "kind": STATE_KIND,
        "schema_version": 1,
        "config": config.to_dict(),
        "epoch": epoch,
        "step": step,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": opt.state_dict(),
        "best_state": None if best_state is None else {k: v.cpu() for k, v in best_state.items()},
        "best_val": stopper.best,
        "bad_epochs": stopper.bad_epochs,
        "rng": _rng_state(loader_gen),
        # The device type the run trained on: resuming elsewhere would change the numbers (bf16
        # autocast on CUDA only, other kernels) while claiming to equal an uninterrupted run.
        "device_type": next(model.parameters()).device.type,
        # Likewise the precision it trained in (TrainPrecision.to_dict plus the dtype seen).
        "precision": precision,
    }, path)


def load_training_state(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise MLError(f"Cannot resume: {path} does not exist. Start the run without --resume.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise MLError(f"Cannot resume from {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("kind") != STATE_KIND:
        raise MLError(f"{path} is not a Verity training state (last.pt).")
    return state


def _check_resumable(saved: dict[str, Any], config: TrainConfig) -> None:
    saved = upgrade_config_dict(saved)
    current = config.to_dict()
    changed = sorted(k for k in current if k not in _RESUME_FREE and saved.get(k) != current[k])
    if changed:
        raise MLError(
            f"Cannot resume: the config differs from the interrupted run in {', '.join(changed)}. "
            "Resume with the same settings, or start a new run in another --out folder."
        )


# Stored inside the validation metrics so that wherever they are shown they say what they are.
IN_SAMPLE_LABEL = {
    "in_sample": True,
    "note": "In-sample: the best epoch, the temperature and the threshold were chosen on these images. "
            "Quote the test metrics.",
}


def _carve_validation(by_split: dict[str, list[Sample]], seed: int) -> int:
    """Without a validation split the best epoch would be picked on training loss and the model left
    uncalibrated: set aside a seeded, stratified, duplicate-aware 15% of the training images as one
    instead. Returns how many images were moved (0 when the data has a validation split)."""
    if by_split["val"]:
        return 0
    carved = make_splits(by_split["train"], seed=seed, fractions=(0.85, 0.15, 0.0))
    train = [s for s in carved if s.split == "train"]
    val = [s for s in carved if s.split != "train"]  # a rounding remainder "test" joins val
    if len(train) < 2 or not val:
        raise MLError(f"The data has no validation split and its {len(by_split['train'])} training images are too "
                      "few to set some aside as one. Add a val split (or more images).")
    by_split["train"], by_split["val"] = train, val
    return len(val)


def _resume_device(saved: dict[str, Any], config: TrainConfig) -> torch.device:
    """The device the interrupted run trained on; refuse to continue it on another kind."""
    was = saved.get("device_type")
    if not was:
        return select_device(config.device)
    if config.device not in ("auto", was) or (was == "cuda" and not torch.cuda.is_available()):
        raise MLError(f"Cannot resume: the interrupted run trained on {was}, and resuming on another device would "
                      "not continue the same computation. Resume it on a machine with that device, or start the "
                      "run again in a new --out folder.")
    return select_device(was)


def _resume_precision(saved: dict[str, Any], config: TrainConfig, device: torch.device) -> dict[str, Any]:
    """The precision the interrupted run trained in (its record, to go on into the metrics); refuse
    to continue it in another. A state written before precisions were recorded trained in bf16
    only with ``amp`` on CUDA."""
    record = saved.get("precision")
    if not isinstance(record, dict) or record.get("precision") not in ("fp32", "bf16"):
        old = upgrade_config_dict(saved.get("config") or {})
        was = "bf16" if old.get("precision", "auto") != "fp32" and saved.get("device_type") == "cuda" else "fp32"
        record = {"precision": was, "requested": old.get("precision", "auto"),
                  "reason": "recorded before training precisions were (amp on CUDA only)"}
    was = record["precision"]
    if config.precision not in ("auto", was):
        raise MLError(f"Cannot resume: the interrupted run trained in {was}, and resuming in {config.precision} "
                      "would not continue the same computation. Resume it with --train-precision "
                      f"{was} (or auto), or start the run again in a new --out folder.")
    if was == "bf16":
        resolve_train_precision("bf16", device)  # refuses a CUDA device without bf16, warns on an emulating CPU
    return dict(record)


def bf16_conv_hazards(model: nn.Module, crop: int) -> list[str]:
    """The convolutions with a stride and a kernel wider than 1 whose input is one pixel high or wide
    when the model sees ``crop`` px (the stride-2 3x3 of layer4 below 32 px with the ImageNet stem).
    Under bf16 autocast on the CPU (torch 2.14.1, oneDNN) such a convolution's weight gradient comes
    back wrong: its off-centre taps, which only meet padding and must be 0, hold leftover memory
    (up to 1e14, Inf or NaN; 19 of 20 tries at 1x1, none at 2x2, benchmarks/bf16_training.md), and
    a NaN weight times the zero padding poisons every output."""
    hits: list[str] = []
    hooks = [m.register_forward_pre_hook(
        lambda mod, args, name=name: hits.append(name) if min(args[0].shape[-2:]) == 1 else None)
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d) and max(m.stride) > 1 and max(m.kernel_size) > 1]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, crop, crop, device=next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return hits


def _eta(elapsed: float, done: int, total: int) -> float | None:
    """Seconds left if the remaining ``total - done`` steps go as fast as the ``done`` ones."""
    return elapsed * (total - done) / done if done > 0 else None


def train(config: TrainConfig, *, progress: ProgressFn | None = None, show_bar: bool = True,
          is_demo: bool = False, name: str = "", resume: bool = False,
          should_stop: Callable[[], bool] | None = None,
          clock: Callable[[], float] = time.monotonic) -> TrainResult:
    """Train, calibrate on validation, evaluate on test and write the run folder.

    ``resume``: continue from ``<out_dir>/last.pt`` (written after every epoch) with the model,
    optimizer, step, early-stopping state and every RNG as they were, so the result equals an
    uninterrupted run. ``should_stop``: called before every step; when it returns True training
    raises :class:`TrainingCancelled` (``last.pt`` of the last finished epoch stays for resuming).
    ``config.init_checkpoint``: start from that checkpoint's weights (ignored when resuming: the
    state in ``last.pt`` already descends from it). ``clock``: seconds, for timing and throttling
    the step events.
    """
    config.validate()
    seed_everything(config.seed)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / STATE_FILE
    saved = load_training_state(state_path) if resume else None
    if saved is not None:
        _check_resumable(saved["config"], config)
    device = _resume_device(saved, config) if saved is not None else select_device(config.device)
    precision = (_resume_precision(saved, config, device) if saved is not None
                 else resolve_train_precision(config.precision, device).to_dict())
    (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    log_path = out_dir / "metrics.jsonl"
    if saved is None:
        log_path.write_text("")
        # A fresh start: a state left by an earlier run in this folder must never be resumed.
        state_path.unlink(missing_ok=True)

    samples, regrouped = split_samples(load_samples(config.data), seed=config.seed)
    by_split = {s: [x for x in samples if x.split == s] for s in ("train", "val", "test")}
    if len(by_split["train"]) < 2:
        raise MLError(
            f"The dataset has {len(by_split['train'])} training image(s); training needs at least 2 "
            "(BatchNorm normalises over a batch). Add images to the train split.")
    # The data and its split as the data and the seed give them (before the carving below), so
    # that ml.evaluate can check it is looking at the same data.
    data_fingerprint = fingerprint(samples)
    carved = _carve_validation(by_split, config.seed)
    base = read_checkpoint(config.init_checkpoint) if config.init_checkpoint else None
    base_meta = meta_from_payload(base) if base is not None else None
    # Images any ancestor trained on are never scored here: not in the test metrics, nor in the
    # validation set that picks the epoch and fits the calibration.
    ancestry = base_meta.trained_on if base_meta is not None else frozenset()
    excluded = {k: sum(1 for x in by_split[k] if x.sha256 in ancestry) for k in ("val", "test")}
    for k in ("val", "test"):
        by_split[k] = [x for x in by_split[k] if x.sha256 not in ancestry]
    if not by_split["val"]:
        raise MLError("No validation images are left once the images the base model trained on are set aside; "
                      "the best epoch, the temperature and the threshold need them. Add images to the val split.")
    loader_gen = torch.Generator()
    loader_gen.manual_seed(config.seed)
    train_loader = _loader(by_split["train"], config, train=True, generator=loader_gen)
    val_loader = _loader(by_split["val"], config, train=False)
    test_loader = _loader(by_split["test"], config, train=False)

    model = build_model(config.model)
    if precision["precision"] == "bf16" and device.type == "cpu":
        hazards = bf16_conv_hazards(model, config.preprocess.train_crop)
        if hazards and (saved is not None or config.precision == "bf16"):
            raise MLError(f"Cannot train in bf16 on the CPU at a {config.preprocess.train_crop} px crop: "
                          f"{', '.join(hazards)} would see a 1-pixel input, where the CPU's bf16 weight gradient "
                          "is wrong (ml.train.bf16_conv_hazards). Use --train-precision fp32, or a larger "
                          "--train-crop.")
        if hazards:
            precision = TrainPrecision("fp32", config.precision, (
                f"bf16 would compute wrong gradients at a {config.preprocess.train_crop} px crop on the CPU "
                f"({', '.join(hazards)} sees 1 pixel)")).to_dict()
    use_amp = precision["precision"] == "bf16"
    if config.init_checkpoint and saved is None:
        init_from_checkpoint(model, config.init_checkpoint, config.model, payload=base)
    # Module.to takes memory_format at run time (torch._C._nn._parse_to); its typed overloads omit it.
    model = model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    if config.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=0.9, weight_decay=config.weight_decay, nesterov=True)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    warmup = int(config.warmup_epochs * steps_per_epoch)

    def emit(event: dict[str, Any], *, log: bool = True) -> None:
        if log:
            with log_path.open("a") as f:
                f.write(json.dumps(event) + "\n")
        if progress:
            progress(event)

    stopper = EarlyStopping(config.early_stopping_patience)
    best_state: dict[str, torch.Tensor] | None = None
    start_epoch, step, stopped_early = 0, 0, False
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        best_state = saved["best_state"]
        stopper.best, stopper.bad_epochs = float(saved["best_val"]), int(saved["bad_epochs"])
        start_epoch, step = int(saved["epoch"]), int(saved["step"])
        stopped_early = bool(config.early_stopping_patience) and stopper.bad_epochs >= config.early_stopping_patience
        _set_rng_state(saved["rng"], loader_gen)
        emit({"event": "resumed", "epoch": start_epoch, "step": step})

    bar = None
    if show_bar:
        from tqdm import tqdm

        bar = tqdm(total=total_steps, initial=step, desc="Training", unit="step")
    started = clock()
    start_step = step
    last_report = started
    for epoch in range(start_epoch, config.epochs):
        if stopped_early or (config.max_steps and step >= config.max_steps):
            break
        model.train()
        train_loader.dataset.epoch = epoch  # type: ignore[attr-defined]
        seen, correct, loss_sum = 0, 0, 0.0
        for batch_index, (x, y) in enumerate(train_loader, start=1):
            if config.max_steps and step >= config.max_steps:
                break
            if should_stop is not None and should_stop():
                if bar:
                    bar.close()
                emit({"event": "cancelled", "epoch": epoch + 1, "step": step})
                raise TrainingCancelled(
                    f"Training was cancelled at step {step} (epoch {epoch + 1} of {config.epochs}). "
                    + (f"Resume from {state_path} with resume=True (--resume)." if epoch else
                       "No epoch had finished, so there is nothing to resume from.")
                )
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, total_steps, warmup, config.lr)
            x = x.to(device, memory_format=torch.channels_last)
            y = y.to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            # What the autocast actually produced (bf16 logits under bf16), from the first step.
            precision.setdefault("logits_dtype", str(logits.dtype).removeprefix("torch."))
            step += 1
            seen += len(y)
            correct += int((logits.argmax(1) == y).sum())
            loss_sum += float(loss.detach()) * len(y)
            if bar:
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
            now = clock()
            epoch_ends = batch_index == steps_per_epoch or step == config.max_steps
            if epoch_ends or now - last_report >= config.progress_every_s:
                last_report = now
                emit({"event": "step", "epoch": epoch + 1, "epochs": config.epochs, "step": step,
                      "total_steps": total_steps, "lr": opt.param_groups[0]["lr"],
                      "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                      "elapsed_s": now - started, "eta_s": _eta(now - started, step - start_step,
                                                                total_steps - start_step)}, log=False)
        val_logits, val_y = predict_logits(model, val_loader, device)
        val_loss = float(F.cross_entropy(val_logits, val_y)) if len(val_y) else loss_sum / max(1, seen)
        val_acc = float((val_logits.argmax(1) == val_y).float().mean()) if len(val_y) else None
        elapsed = clock() - started
        emit({"event": "epoch", "epoch": epoch + 1, "epochs": config.epochs, "step": step,
              "total_steps": total_steps, "lr": opt.param_groups[0]["lr"],
              "train_loss": loss_sum / max(1, seen),
              "train_accuracy": correct / max(1, seen), "val_loss": val_loss, "val_accuracy": val_acc,
              "elapsed_s": elapsed, "eta_s": _eta(elapsed, step - start_step, total_steps - start_step)})
        improved, stopped_early = stopper.update(val_loss)
        if improved:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if stopped_early:
            emit({"event": "early_stop", "epoch": epoch + 1, "best_val_loss": stopper.best})
        _save_state(state_path, config=config, epoch=epoch + 1, step=step, model=model, opt=opt,
                     stopper=stopper, best_state=best_state, loader_gen=loader_gen, precision=precision)
    if bar:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    if config.bn_recalibration_batches:
        recalibrate_batchnorm(model, _loader(by_split["train"], config, train=False, batchnorm_updates=True),
                              device, config.bn_recalibration_batches)
    # Calibrate and choose the threshold on validation, never on test.
    val_logits, val_y = predict_logits(model, val_loader, device)
    temperature = fit_temperature(val_logits, val_y) if len(val_y) else 1.0
    val_p = torch.softmax(val_logits / temperature, dim=1)[:, 1] if len(val_y) else torch.empty(0)
    threshold = choose_threshold(val_y, val_p)
    test_logits, test_y = predict_logits(model, test_loader, device)
    metrics: dict[str, Any] = {"temperature": temperature, "threshold": threshold}
    if len(test_y):
        test_p = torch.softmax(test_logits / temperature, dim=1)[:, 1]
        metrics["test"] = binary_metrics(test_y.numpy(), test_p.numpy(), threshold)
    if len(val_y):
        metrics["val"] = {**binary_metrics(val_y.numpy(), val_p.numpy(), threshold), **IN_SAMPLE_LABEL}
    # What is served is the image judged on its tiles and aggregated (ml.wholeimage), not one centre
    # crop: fit the temperature and threshold on that rule and report it (issue #18 item 6). The
    # single-crop figures stay beside it for comparison.
    served = served_calibration(model, config.preprocess, device, by_split["val"], by_split["test"])
    if served is not None:
        temperature, threshold = served["temperature"], served["threshold"]
        if isinstance(served.get("val"), dict):
            served["val"] = {**served["val"], **IN_SAMPLE_LABEL}
        metrics = {**served, "single_crop": metrics}
    metrics["training_precision"] = dict(precision)
    metrics["counts"] = {s: len(v) for s, v in by_split.items()}
    metrics["counts"].update({"val_carved_from_train": carved, "copies_moved_to_their_earlier_split": regrouped,
                              "excluded_base_model_trained": excluded})
    if carved:
        metrics["notes"] = [f"The data had no validation split: {carved} training images were set aside as one "
                            f"(seeded with {config.seed}, stratified by class and source)."]
    emit({"event": "done", "metrics": metrics})

    # Demo-ness is inherited: a model fine-tuned from a demo model, or trained on the generated
    # demo set, is no better founded than the demo model.
    demo = is_demo or bool(base_meta and base_meta.is_demo) or any(
        x.generator == DEMO_GENERATOR for x in by_split["train"])
    meta = CheckpointMeta(model=config.model, preprocess=config.preprocess, temperature=temperature,
                          threshold=threshold, is_demo=demo, data_fingerprint=data_fingerprint,
                          train_config=config.to_dict(), metrics=metrics,
                          name=name or out_dir.name,
                          trained_on=frozenset(x.sha256 for x in by_split["train"]) | ancestry)
    ckpt = save_checkpoint(out_dir / "model.pt", model.cpu(), meta)
    if not config.keep_last_state:
        state_path.unlink(missing_ok=True)
    return TrainResult(checkpoint=ckpt, metrics=metrics)
