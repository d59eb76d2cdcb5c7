"""Training: a plain loop in the style of torchvision's classification references.

``train(config)`` reads the dataset, trains ResNet50, keeps the best epoch by validation loss,
fits temperature scaling and the decision threshold on validation, evaluates on test, and writes
``<out_dir>/model.pt`` (a self-describing checkpoint), ``config.json`` and ``metrics.jsonl``.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from . import CLASSES
from .calibration import choose_threshold, fit_temperature
from .checkpoint import CheckpointMeta, save_checkpoint
from .config import TrainConfig
from .data.dataset import ImageDataset
from .data.sources import Sample, fingerprint, load_samples
from .device import select_device
from .errors import MLError
from .metrics import binary_metrics
from .model import build_model
from .splits import assign_splits

ProgressFn = Callable[[dict[str, Any]], None]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    checkpoint: Path
    metrics: dict[str, Any]


def _loader(samples: list[Sample], config: TrainConfig, *, train: bool) -> DataLoader:
    ds = ImageDataset(samples, config.preprocess, train=train, seed=config.seed)
    g = torch.Generator()
    g.manual_seed(config.seed)
    return DataLoader(ds, batch_size=config.batch_size, shuffle=train, generator=g,
                      num_workers=config.num_workers, drop_last=False)


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


def _lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train(config: TrainConfig, *, progress: ProgressFn | None = None, show_bar: bool = True,
          is_demo: bool = False, name: str = "") -> TrainResult:
    config.validate()
    seed_everything(config.seed)
    device = select_device(config.device)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    log_path = out_dir / "metrics.jsonl"
    log_path.write_text("")

    samples = assign_splits(load_samples(config.data), seed=config.seed)
    by_split = {s: [x for x in samples if x.split == s] for s in ("train", "val", "test")}
    if not by_split["train"]:
        raise MLError("The dataset has no training images.")
    train_loader = _loader(by_split["train"], config, train=True)
    val_loader = _loader(by_split["val"], config, train=False)
    test_loader = _loader(by_split["test"], config, train=False)

    model = build_model(config.model).to(device, memory_format=torch.channels_last)
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9,
                              weight_decay=config.weight_decay, nesterov=True)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    warmup = int(config.warmup_epochs * steps_per_epoch)
    use_amp = config.amp and device.type == "cuda"

    def emit(event: dict[str, Any]) -> None:
        with log_path.open("a") as f:
            f.write(json.dumps(event) + "\n")
        if progress:
            progress(event)

    bar = None
    if show_bar:
        from tqdm import tqdm

        bar = tqdm(total=total_steps, desc="Training", unit="step")
    best_state, best_val, bad_epochs, step = None, float("inf"), 0, 0
    started = time.monotonic()
    for epoch in range(config.epochs):
        model.train()
        train_loader.dataset.epoch = epoch  # type: ignore[attr-defined]
        seen, correct, loss_sum = 0, 0, 0.0
        for x, y in train_loader:
            if config.max_steps and step >= config.max_steps:
                break
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
            step += 1
            seen += len(y)
            correct += int((logits.argmax(1) == y).sum())
            loss_sum += float(loss.detach()) * len(y)
            if bar:
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        val_logits, val_y = predict_logits(model, val_loader, device)
        val_loss = float(F.cross_entropy(val_logits, val_y)) if len(val_y) else loss_sum / max(1, seen)
        val_acc = float((val_logits.argmax(1) == val_y).float().mean()) if len(val_y) else None
        elapsed = time.monotonic() - started
        done_frac = step / max(1, total_steps)
        emit({"event": "epoch", "epoch": epoch + 1, "epochs": config.epochs, "step": step,
              "total_steps": total_steps, "train_loss": loss_sum / max(1, seen),
              "train_accuracy": correct / max(1, seen), "val_loss": val_loss, "val_accuracy": val_acc,
              "elapsed_s": elapsed, "eta_s": elapsed / done_frac - elapsed if done_frac else None})
        if val_loss < best_val - 1e-6:
            best_val, bad_epochs = val_loss, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
            if config.early_stopping_patience and bad_epochs >= config.early_stopping_patience:
                break
        if config.max_steps and step >= config.max_steps:
            break
    if bar:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)

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
        metrics["val"] = binary_metrics(val_y.numpy(), val_p.numpy(), threshold)
    metrics["counts"] = {s: len(v) for s, v in by_split.items()}
    emit({"event": "done", "metrics": metrics})

    meta = CheckpointMeta(model=config.model, preprocess=config.preprocess, temperature=temperature,
                          threshold=threshold, is_demo=is_demo, data_fingerprint=fingerprint(samples),
                          train_config=config.to_dict(), metrics=metrics,
                          name=name or out_dir.name)
    ckpt = save_checkpoint(out_dir / "model.pt", model.cpu(), meta)
    return TrainResult(checkpoint=ckpt, metrics=metrics)
