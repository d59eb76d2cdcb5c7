"""Inference at lower precision on the machine's matrix units, with Grad-CAM's cut kept in fp32.

Precisions (``VERITY_INFERENCE_PRECISION`` in the portal, ``--precision`` in the CLI):

* ``fp32``: the checkpoint's model as trained (the reference every other path is compared with).
* ``bf16``: BatchNorm folded into the convolutions, then the backbone (stem to ``layer4``) runs
  with bf16 weights and activations in channels_last, which oneDNN maps onto AMX tiles (or
  AVX512-BF16) on a CPU, and tensor cores on a CUDA GPU.
* ``int8``: post-training static quantisation of the backbone (PyTorch's FX graph mode with the
  ``x86`` engine: per-channel int8 weights, activation ranges calibrated on training images), run
  by oneDNN/FBGEMM with AMX-INT8 or VNNI; the stem (``conv1``) stays fp32 (``INT8_FLOAT_STEM``).
  CPU only; it needs calibration images.
* ``auto``: the fastest of the precisions this device runs natively **and** that agreed with fp32
  on the checkpoint's validation images within the issue's tolerances when it was trained
  (``ml.precision_check``, recorded in the checkpoint as ``verified_precisions``), measured on the
  loaded model at load time (CPU), or bf16 on a CUDA GPU that supports it. A checkpoint without
  that record (the demo, or one trained before it existed) is served in fp32 by ``auto``: speed
  never buys verdicts that were not shown to agree.

In every low-precision model the backbone's output is returned in fp32, and global pooling plus
the classifier head run in fp32. That output is the Grad-CAM layer (``gradcam_layer``, which
:func:`ml.model.gradcam_target_layer` prefers), so Grad-CAM's gradients and maps are computed in
fp32 from activations that only the backbone's precision touched. A precision the device cannot
run natively (no AMX/AVX512-BF16 for bf16, no VNNI or x86 quantised engine for int8) is never
chosen by ``auto`` and, asked for explicitly, falls back to fp32 with the reason recorded: bf16
emulated without those instructions is slower than fp32, not faster.

Pure PyTorch: nothing of the project beyond ``ml``.
"""

from __future__ import annotations

import copy
import logging
import math
import statistics
import time
import warnings
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .errors import MLError

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "int8")
# From the most to the least exact: with equal speed the more exact one wins.
_ORDER = ("fp32", "bf16", "int8")
# ``auto`` takes a lower precision only when it measured at least this much faster: a smaller gain
# is within the noise of a shared machine and not worth the (small) loss of exactness.
AUTO_MIN_SPEEDUP = 1.15


# ------------------------------------------------------------------------------------------------
# What the CPU can run natively
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CpuFeatures:
    """The CPU instruction sets that decide whether bf16 and int8 are fast, as the OS reports them."""

    flags: frozenset[str]
    mkldnn: bool  # oneDNN built into torch and enabled: it is what runs bf16 convolutions on AMX
    quantized_engines: tuple[str, ...]
    capability: str = ""  # torch's own dispatch level (e.g. AVX512), for reports

    @property
    def amx_bf16(self) -> bool:
        return {"amx_tile", "amx_bf16"} <= self.flags

    @property
    def amx_int8(self) -> bool:
        return {"amx_tile", "amx_int8"} <= self.flags

    @property
    def bf16(self) -> bool:
        """bf16 matrix instructions oneDNN can use (AMX or AVX512-BF16)."""
        return self.mkldnn and (self.amx_bf16 or "avx512_bf16" in self.flags)

    @property
    def int8(self) -> bool:
        """int8 dot-product instructions (AMX-INT8, AVX512-VNNI or AVX-VNNI) and the x86 engine."""
        return "x86" in self.quantized_engines and (
            self.amx_int8 or "avx512_vnni" in self.flags or "avx_vnni" in self.flags)

    def to_dict(self) -> dict[str, Any]:
        return {"capability": self.capability, "mkldnn": self.mkldnn, "amx_bf16": self.amx_bf16,
                "amx_int8": self.amx_int8, "avx512_bf16": "avx512_bf16" in self.flags,
                "vnni": "avx512_vnni" in self.flags or "avx_vnni" in self.flags,
                "quantized_engines": list(self.quantized_engines), "bf16": self.bf16, "int8": self.int8}


def _cpuinfo_flags(path: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:  # not Linux, or no /proc: claim nothing, so fp32 is used
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_features() -> CpuFeatures:
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        capability = ""
    return CpuFeatures(
        flags=_cpuinfo_flags(),
        mkldnn=bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        quantized_engines=tuple(torch.backends.quantized.supported_engines), capability=capability)


def native_precisions(device: torch.device, features: CpuFeatures | None = None) -> list[str]:
    """The precisions ``device`` runs natively, most exact first (int8 regardless of calibration)."""
    if device.type == "cuda":
        return ["fp32", "bf16"] if torch.cuda.is_bf16_supported() else ["fp32"]
    if device.type != "cpu":
        return ["fp32"]
    f = features or cpu_features()
    return ["fp32"] + (["bf16"] if f.bf16 else []) + (["int8"] if f.int8 else [])


# ------------------------------------------------------------------------------------------------
# Model transformations
# ------------------------------------------------------------------------------------------------

def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (in eval mode) with every BatchNorm2d that directly follows a Conv2d
    folded into that convolution's weights and bias, and replaced by Identity.

    Pairs are found by ResNet's naming (``convN``/``bnN`` siblings) and as consecutive
    (Conv2d, BatchNorm2d) in a Sequential (``downsample``). Folding removes a full pass over every
    activation map; the outputs differ from the unfolded model only by float rounding."""
    model = copy.deepcopy(model).eval()
    for parent in list(model.modules()):
        children = parent._modules
        for name in list(children):
            bn = children[name]
            if name.startswith("bn") and isinstance(bn, nn.BatchNorm2d):
                conv = children.get("conv" + name[2:])
                if isinstance(conv, nn.Conv2d):
                    children["conv" + name[2:]] = fuse_conv_bn_eval(conv, bn)
                    children[name] = nn.Identity()
        if isinstance(parent, nn.Sequential):
            for i in range(len(parent) - 1):
                conv, bn = parent[i], parent[i + 1]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    parent[i] = fuse_conv_bn_eval(conv, bn)
                    parent[i + 1] = nn.Identity()
    return model


def _backbone(model: nn.Module) -> nn.Sequential:
    """ResNet's stem through ``layer4``: everything before global pooling and the head."""
    try:
        # getattr: nn.Module types its submodules as Tensor | Module, too many unions for mypy here.
        return nn.Sequential(*(getattr(model, name) for name in ("conv1", "bn1", "relu", "maxpool",
                                                                 "layer1", "layer2", "layer3", "layer4")))
    except AttributeError as exc:
        raise MLError("Low-precision inference supports torchvision ResNets (conv1 ... layer4, avgpool, "
                      "fc); use precision fp32 for other architectures.") from exc


class Features(nn.Module):
    """The backbone at low precision; takes and returns fp32 tensors.

    Its output is where Grad-CAM cuts the graph (``ml.explain``): nothing is learnt here and
    Grad-CAM's gradient starts at this output, so the backbone runs without recording autograd."""

    def __init__(self, body: nn.Module, dtype: torch.dtype | None) -> None:
        super().__init__()
        self.body = body
        self.dtype = dtype  # None: the body takes fp32 (a quantised body quantises its input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if self.dtype is not None:
                x = x.to(self.dtype)
            return self.body(x).float()


class LowPrecisionResNet(nn.Module):
    """A ResNet whose backbone runs at low precision and whose pooling and head run in fp32."""

    def __init__(self, features: Features, avgpool: nn.Module, fc: nn.Module, precision: str) -> None:
        super().__init__()
        self.features = features
        self.avgpool = avgpool
        self.fc = fc
        self.precision = precision

    @property
    def gradcam_layer(self) -> nn.Module:
        return self.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


def _head(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    avgpool: nn.Module = model.avgpool  # type: ignore[assignment]  # a submodule, typed Tensor | Module
    fc: nn.Module = model.fc  # type: ignore[assignment]
    return copy.deepcopy(avgpool).float(), copy.deepcopy(fc).float()


def to_bf16(model: nn.Module) -> LowPrecisionResNet:
    """BatchNorm folded, backbone in bf16 channels_last on the model's device, head in fp32."""
    folded = fold_batchnorm(model)
    # Module.to takes dtype and memory_format together; the stub's overloads take one or the other.
    body = _backbone(folded).to(dtype=torch.bfloat16, memory_format=torch.channels_last)  # type: ignore[call-overload]
    return LowPrecisionResNet(Features(body, torch.bfloat16), *_head(folded), precision="bf16").eval()


# Activations quantised over the full 8 bits (0-255) when True, instead of the x86 default's 7
# ("reduce_range", which keeps CPUs without VNNI from overflowing their 16-bit intermediate sums;
# int8 runs here only where VNNI or AMX-INT8 is present). Measured on four checkpoints
# (benchmarks/precision.md, "int8 activation range"): 8 bits halve the mean probability change but
# flipped more verdicts on three of the four, so the default stays at 7 bits.
INT8_FULL_RANGE = False

# The stem (``conv1``, ``bn1``, ``relu``: 3 % of ResNet50's multiply-adds at 224 px, and the layer
# that quantises raw pixels) left in fp32, the rest int8. Measured on four checkpoints
# (benchmarks/precision.md, "int8 with the stem left in fp32"): the full int8 model passed the
# agreement check on one of them, this one on all four, at 4.1x fp32 eager at batch 8 (full int8:
# 4.3x). Names are positions in ``_backbone``'s Sequential.
INT8_FLOAT_STEM = True
_STEM_MODULES = ("0", "1", "2")


# int8 decides only away from the threshold. An image whose calibrated log-odds under int8 lie
# within this distance of the threshold's is judged again by the fp32 model, whose verdict stands:
# int8's error moves an image's log-odds by a few hundredths on average but its verdicts flipped
# only there (benchmarks/precision.md, seventh session: 13 of 2,344 test images, all at the
# threshold). The band is the 99th percentile of int8's |log-odds shift| on validation images
# (precision.md, eighth session: 0.20; on the test splits it left 0 of 2,344 verdicts flipped, against
# 10 for int8 alone, at the price of rechecking 1.7 % of cifake's and 21-34 % of the photo sources'
# images, whose probabilities crowd the threshold). The worker takes it from VERITY_INT8_RECHECK_LOG_ODDS
# when that is set (0 turns it off).
INT8_RECHECK_LOG_ODDS = 0.2


def near_threshold(probability: float, threshold: float, band: float) -> bool:
    """Whether a calibrated ``probability`` lies within ``band`` (in log-odds) of ``threshold``:
    the images a low precision leaves to the fp32 model."""
    if band <= 0:
        return False
    eps = 1e-12
    p = min(max(float(probability), eps), 1 - eps)
    t = min(max(float(threshold), eps), 1 - eps)
    return abs(math.log(p / (1 - p)) - math.log(t / (1 - t))) < band


def int8_qconfig_mapping(full_range: bool | None = None, float_stem: bool | None = None) -> Any:
    """The x86 engine's default mapping (per-channel symmetric int8 weights, histogram-calibrated
    uint8 activations), with activations over the full 8 bits when ``full_range`` (default
    :data:`INT8_FULL_RANGE`) and the stem unquantised when ``float_stem`` (default
    :data:`INT8_FLOAT_STEM`)."""
    from torch.ao.quantization import QConfig, get_default_qconfig_mapping
    from torch.ao.quantization.observer import HistogramObserver

    full_range = INT8_FULL_RANGE if full_range is None else full_range
    float_stem = INT8_FLOAT_STEM if float_stem is None else float_stem
    mapping = get_default_qconfig_mapping("x86")
    if full_range:
        weight = mapping.global_qconfig.weight  # type: ignore[union-attr]  # the x86 mapping always has one
        mapping.set_global(QConfig(activation=HistogramObserver.with_args(reduce_range=False), weight=weight))
    if float_stem:
        for name in _STEM_MODULES:
            mapping.set_module_name(name, None)
    return mapping


def to_int8(model: nn.Module, calibration: Iterable[torch.Tensor]) -> LowPrecisionResNet:
    """Static int8 quantisation of the backbone (x86 engine, :func:`int8_qconfig_mapping`),
    calibrated on ``calibration`` (fp32 input batches, e.g. training images preprocessed as for
    inference). CPU only."""
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    batches = iter(calibration)
    first = next(batches, None)
    if first is None:
        raise MLError("int8 quantisation needs calibration images; none were given.")
    torch.backends.quantized.engine = "x86"
    body = _backbone(copy.deepcopy(model).cpu().eval()).to(memory_format=torch.contiguous_format)
    with warnings.catch_warnings():
        # torch 2.14 marks FX quantisation deprecated in favour of torchao (not a dependency here);
        # it is what runs int8 natively on this torch without torch.compile.
        warnings.simplefilter("ignore")
        prepared = prepare_fx(body, int8_qconfig_mapping(), (first.cpu(),))
        with torch.no_grad():
            prepared(first.cpu())
            for batch in batches:
                prepared(batch.cpu())
        quantised = convert_fx(prepared)
    return LowPrecisionResNet(Features(quantised, None), *_head(model), precision="int8").eval()


# ------------------------------------------------------------------------------------------------
# Choosing
# ------------------------------------------------------------------------------------------------

@dataclass
class PrecisionChoice:
    """What runs, what was asked for, and why (the worker logs it, benchmarks record it)."""

    precision: str
    requested: str
    reason: str
    timings_ms: dict[str, float] = field(default_factory=dict)  # auto's measurement, per precision
    features: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"precision": self.precision, "requested": self.requested, "reason": self.reason,
                "timings_ms": dict(self.timings_ms), "features": dict(self.features)}


def convert(model: nn.Module, precision: str,
            calibration: Callable[[], Iterable[torch.Tensor]] | None = None) -> nn.Module:
    """``model`` (eval mode, on its device) at ``precision``; fp32 returns it unchanged."""
    if precision == "fp32":
        return model
    if precision == "bf16":
        return to_bf16(model)
    if precision == "int8":
        if calibration is None:
            raise MLError("int8 needs calibration images: give calibration data (VERITY_INT8_CALIBRATION_DATA "
                          "or --calibration-data, a dataset whose train split is used).")
        return to_int8(model, calibration())
    raise MLError(f"Unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}.")


def time_forward(model: nn.Module, batch: torch.Tensor, rounds: int = 3) -> float:
    """Median seconds of one forward pass (after one untimed pass)."""
    with torch.inference_mode():
        model(batch)
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            model(batch)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


# (device type, input size, candidates) -> precision measured fastest, so a process measures once.
_measured: dict[tuple[str, int, tuple[str, ...]], tuple[str, dict[str, float]]] = {}


def prepare(model: nn.Module, device: torch.device, requested: str = "auto", *, input_size: int = 224,
            probe_batch: int = 8, calibration: Callable[[], Iterable[torch.Tensor]] | None = None,
            features: CpuFeatures | None = None,
            verified: Collection[str] | None = None) -> tuple[nn.Module, PrecisionChoice]:
    """Return the model to serve at the requested precision (eval mode, on ``device``) and the choice.

    ``calibration`` returns the int8 calibration batches; without it int8 is not a candidate for
    ``auto`` and an explicit int8 is an error (it cannot be quantised without ranges).
    ``verified``: the lower precisions shown to agree with fp32 for this model
    (``CheckpointMeta.verified_precisions``); ``auto`` chooses among fp32 and those only (None: none
    was checked). An explicit precision is served as configured: the operator's override."""
    if requested not in PRECISIONS:
        raise MLError(f"Unknown inference precision {requested!r}; choose one of {', '.join(PRECISIONS)}.")
    f = features or (cpu_features() if device.type == "cpu" else None)
    info = f.to_dict() if f is not None else {"cuda": torch.cuda.get_device_name(device)
                                              if device.type == "cuda" else device.type}
    native = native_precisions(device, f)
    if requested != "auto":
        if requested in native:
            return convert(model, requested, calibration), PrecisionChoice(
                requested, requested, "as configured", features=info)
        why = (f"{requested} is not native on {device.type}" if device.type != "cpu" else
               f"this CPU lacks the {'bf16 (AMX/AVX512-BF16)' if requested == 'bf16' else 'int8 (VNNI/AMX)'} "
               "instructions")
        logger.warning("inference precision %s asked for, but %s: using fp32", requested, why)
        return model, PrecisionChoice("fp32", requested, f"fallback: {why}", features=info)
    faster = [p for p in native if p != "fp32" and (p != "int8" or calibration is not None)]
    candidates = ["fp32"] + [p for p in faster if verified is not None and p in verified]
    if len(candidates) == 1:
        why = (f"no faster precision is native on this {device.type}" if not faster else
               "no agreement with fp32 is recorded for this model (the recipe measures it)" if verified is None
               else f"{', '.join(faster)} did not agree with fp32 on this model's validation images")
        return model, PrecisionChoice("fp32", "auto", why, features=info)
    if device.type == "cuda":  # tensor cores: bf16 (not measured here: no GPU was lent)
        return convert(model, "bf16"), PrecisionChoice("bf16", "auto", "CUDA with bf16 support", features=info)
    key = (device.type, input_size, tuple(candidates))
    models = {}
    if key not in _measured:
        probe = torch.randn(probe_batch, 3, input_size, input_size, device=device)
        probe = probe.contiguous(memory_format=torch.channels_last)
        timings: dict[str, float] = {}
        for p in candidates:
            models[p] = convert(model, p, calibration)
            timings[p] = time_forward(models[p], probe) * 1e3
        _measured[key] = (_pick(timings), timings)
    chosen, timings = _measured[key]
    served = models.get(chosen) or convert(model, chosen, calibration)
    return served, PrecisionChoice(chosen, "auto", f"fastest measured on this {device.type} "
                                   f"(batch {probe_batch}, {input_size} px)", timings_ms=timings, features=info)


def _pick(timings_ms: dict[str, float]) -> str:
    """The fastest precision, unless it is less than AUTO_MIN_SPEEDUP faster than fp32."""
    fastest = min(timings_ms, key=lambda p: (timings_ms[p], _ORDER.index(p)))
    if timings_ms["fp32"] < AUTO_MIN_SPEEDUP * timings_ms[fastest]:
        return "fp32"
    return fastest


def calibration_batches(data: str | Path, preprocess: Any, *, images: int = 64, batch_size: int = 16,
                        seed: int = 0) -> list[torch.Tensor]:
    """``images`` training images of ``data`` (anything ``ml.data.load_samples`` reads), spread evenly
    over the sorted train split (so every class and source is represented), preprocessed exactly
    as inference does (one centre ``input_size`` crop), in batches of ``batch_size``."""
    from .data.sources import load_samples
    from .imageio import decode_image
    from .preprocess import center_crop, to_tensor
    from .splits import assign_splits

    samples = [s for s in assign_splits(load_samples(data), seed=seed) if s.split == "train"]
    if not samples:
        raise MLError(f"{data} has no train split to calibrate int8 on; give a dataset with training images.")
    # An equal share per source (a folder of sources may hold 16,000 images of one, 400 of another).
    sources = sorted({s.source for s in samples})
    chosen: list[Any] = []
    for i, source in enumerate(sources):
        pool = [s for s in samples if s.source == source]
        share = images // len(sources) + (1 if i < images % len(sources) else 0)
        chosen += pool[::max(1, len(pool) // max(1, share))][:share]
    tensors = [to_tensor(center_crop(decode_image(s.read_bytes()).convert("RGB"), preprocess.input_size)[0],
                         preprocess) for s in chosen]
    return [torch.stack(tensors[i:i + batch_size]) for i in range(0, len(tensors), batch_size)]
