"""Configuration dataclasses for the model and for training runs.

A resolved config is saved beside every run and inside every checkpoint, so a run can be
reproduced and a checkpoint rebuilt from its own contents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from . import CLASSES
from .errors import MLError


@dataclass(frozen=True)
class ModelConfig:
    architecture: str = "resnet50"
    classes: tuple[str, ...] = CLASSES
    # Local torchvision ImageNet weights file to start from; never downloaded.
    pretrained_weights: str | None = None
    # Start each residual block's last BatchNorm at zero, so every block begins as the identity
    # (Goyal et al. 2017; "Bag of Tricks", He et al. 2019). It steadies training from scratch;
    # pretrained weights, when loaded, replace it.
    zero_init_residual: bool = True
    # What the network sees: "rgb" (the normalised pixels) or "npr", the neighbouring-pixel
    # residual of Tan et al. (CVPR 2024): x minus its 2x nearest-neighbour down- and up-sampled
    # copy, which keeps the local up-sampling traces generators leave and drops image content.
    input_representation: str = "rgb"
    # The first layers: "imagenet" (7x7 stride-2 convolution and max-pooling: a 32 px tile is 8 x 8
    # after them, and layer4 is 1 x 1) or "small" (one 3x3 stride-1 convolution, no pooling, as the
    # CIFAR ResNets of He et al. 2016, section 4.2: layer4 is 4 x 4 on a 32 px tile, at about 16x the
    # compute). For small native tiles; the state_dict keys stay those of torchvision's ResNet50.
    stem: str = "imagenet"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes)
        return d


@dataclass(frozen=True)
class PreprocessConfig:
    """How pixels become a tensor. Shared by training (eval half) and inference."""

    # Side of the square the model sees at inference. Larger images are centre-cropped to it
    # (no resampling, which would erase generator traces); smaller ones are upscaled by an
    # integer factor (nearest neighbour) and then padded/cropped to it.
    input_size: int = 224
    # Side of the random crops used in training.
    train_crop: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)  # ImageNet normalisation
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessConfig:
        known = {f.name for f in fields(cls)}
        kw: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known}
        return cls(**kw)


TRAIN_PRECISIONS = ("auto", "fp32", "bf16")


def upgrade_config_dict(d: dict[str, Any]) -> dict[str, Any]:
    """A training config dict as this version writes it. Configs written before ``precision``
    carry ``amp`` (bf16 autocast on CUDA, always fp32 on CPU): ``amp: false`` becomes ``fp32``
    and ``amp: true`` ``auto``, which is bf16 on CUDA as before; on a CPU ``auto`` follows
    CPU_AUTO_BF16, and a resumed run keeps the precision its training state records (ml.train)."""
    kw = dict(d)
    if "amp" in kw:
        amp = kw.pop("amp")
        kw.setdefault("precision", "auto" if amp else "fp32")
    return kw


@dataclass
class TrainConfig:
    data: str = ""  # dataset root (folder layout) or manifest CSV
    out_dir: str = "runs/latest"
    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"  # adamw | sgd
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    early_stopping_patience: int = 0  # 0: off
    seed: int = 0
    num_workers: int = 0
    # Decoded training images kept in memory per loader process (MiB of pixels), so an image listed
    # several times an epoch is decoded once: a 1280 x 720 photo costs a full JPEG decode for every
    # 32 px crop otherwise. Changes no pixel; 0 turns it off (ml.data.dataset.ImageDataset).
    decode_cache_mb: int = 2048
    device: str = "auto"  # auto | cpu | cuda
    # Training arithmetic: "fp32", "bf16" (autocast: convolutions and matrix products in bf16,
    # weights, optimizer and loss in fp32) or "auto" (ml.train.resolve_train_precision: bf16 on a
    # CUDA device with bf16, and on a CPU only where bf16 is native and CPU_AUTO_BF16 says the
    # recipe's measurement supports it; else fp32). What a run used is recorded in its metrics.
    precision: str = "auto"
    max_steps: int = 0  # 0: no limit; a cap for smoke tests
    # A Verity checkpoint (model.pt of an earlier run) whose weights the model starts from
    # (fine-tuning a base model). Read with weights_only; its architecture and classes must match.
    init_checkpoint: str | None = None
    # Live "step" progress events go to ``progress`` at most this often (seconds), plus the last
    # step of every epoch. They are not written to metrics.jsonl (see ml.train).
    progress_every_s: float = 2.0
    # After training, re-estimate BatchNorm statistics on this many batches of training images
    # seen exactly as at inference (input_size centre crops), for when train_crop is much smaller
    # than input_size (Touvron et al. 2019). Off by default: on the demo set (train_crop 64,
    # input_size 128) 4 batches lowered validation accuracy from 0.990 to 0.948 (benchmarks/ml.md,
    # whose outputs were not kept).
    bn_recalibration_batches: int = 0
    # last.pt (model + optimizer + best state: about 4x model.pt) exists to resume an interrupted
    # run; a finished run deletes it unless asked to keep it.
    keep_last_state: bool = False
    # Augmentation (see preprocess.Augment): flips, and the JPEG re-compression and Gaussian blur
    # of Wang et al. 2020, applied with these probabilities before the random crop.
    hflip: bool = True
    jpeg_prob: float = 0.0
    jpeg_quality: tuple[int, int] = (30, 100)
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.0, 3.0)
    model: ModelConfig = field(default_factory=ModelConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)

    def validate(self) -> None:
        if self.epochs < 1:
            raise MLError("epochs must be at least 1")
        if self.batch_size < 2:
            # BatchNorm in train mode normalises over the batch: one image gives it nothing to
            # normalise over (1x1 feature maps raise, larger ones normalise each image by itself).
            raise MLError("batch_size must be at least 2: BatchNorm normalises over the images of a batch")
        if not self.lr > 0:
            raise MLError("lr must be positive")
        if self.optimizer not in ("adamw", "sgd"):
            raise MLError(f"optimizer must be 'adamw' or 'sgd', not {self.optimizer!r}")
        if not 0 <= self.label_smoothing < 1:
            raise MLError("label_smoothing must be in [0, 1)")
        if self.device not in ("auto", "cpu", "cuda"):
            raise MLError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.precision not in TRAIN_PRECISIONS:
            raise MLError(f"precision must be {', '.join(TRAIN_PRECISIONS)}, not {self.precision!r}")
        for name in ("jpeg_prob", "blur_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise MLError(f"{name} must be a probability in [0, 1]")
        lo, hi = self.jpeg_quality
        if not 1 <= lo <= hi <= 100:
            raise MLError("jpeg_quality must be a range within 1..100, low first, e.g. 30,100")
        if not 0 <= self.blur_sigma[0] <= self.blur_sigma[1]:
            raise MLError("blur_sigma must be a non-negative range, low first, e.g. 0,3")
        if not self.progress_every_s >= 0:
            raise MLError("progress_every_s must be 0 or more seconds")
        if self.init_checkpoint and self.model.pretrained_weights:
            raise MLError("Set either init_checkpoint (a Verity checkpoint) or model.pretrained_weights "
                          "(ImageNet weights), not both: the checkpoint would replace the ImageNet weights.")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from :meth:`to_dict` output (a run's ``config.json``). Unknown keys
        are refused so a typo in a hand-written config file is not silently ignored."""
        known = {f.name for f in fields(cls)}
        kw = upgrade_config_dict(d)
        unknown = sorted(set(kw) - known)
        if unknown:
            raise MLError(f"Unknown training config key(s): {', '.join(unknown)}.")
        if "model" in kw:
            m = dict(kw["model"])
            if "classes" in m:
                m["classes"] = tuple(m["classes"])
            kw["model"] = ModelConfig(**m)
        if "preprocess" in kw:
            kw["preprocess"] = PreprocessConfig.from_dict(kw["preprocess"])
        for key in ("jpeg_quality", "blur_sigma"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        d["preprocess"] = self.preprocess.to_dict()
        d["jpeg_quality"], d["blur_sigma"] = list(self.jpeg_quality), list(self.blur_sigma)
        return d
