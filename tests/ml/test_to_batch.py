"""to_batch: the inference batch, built once in channels_last, equals stacking to_tensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ml.config import PreprocessConfig
from ml.preprocess import to_batch, to_tensor


def _crops(n: int, size: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def test_equals_stacked_to_tensor_bit_for_bit() -> None:
    config = PreprocessConfig(input_size=32)
    crops = _crops(5, 32)
    got = to_batch(crops, config)
    want = torch.stack([to_tensor(c, config) for c in crops])
    assert got.shape == (5, 3, 32, 32) and got.dtype == torch.float32
    assert torch.equal(got, want)


def test_is_channels_last_so_the_model_needs_no_layout_copy() -> None:
    got = to_batch(_crops(3, 16), PreprocessConfig(input_size=16))
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert got.to(memory_format=torch.channels_last).data_ptr() == got.data_ptr()


def test_converts_other_modes_as_to_tensor_does_after_convert() -> None:
    config = PreprocessConfig(input_size=8)
    grey = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), mode="L")
    rgba = _crops(1, 8, seed=1)[0].convert("RGBA")
    got = to_batch([grey, rgba], config)
    want = torch.stack([to_tensor(grey.convert("RGB"), config), to_tensor(rgba.convert("RGB"), config)])
    assert torch.equal(got, want)


def test_uses_the_configured_mean_and_std() -> None:
    config = PreprocessConfig(input_size=4, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))
    white = Image.new("RGB", (4, 4), (255, 255, 255))
    got = to_batch([white], config)
    assert torch.allclose(got[0, :, 0, 0], torch.tensor([1.0, 3.0, 1.0]))


def test_refuses_an_empty_list() -> None:
    with pytest.raises(ValueError):
        to_batch([], PreprocessConfig(input_size=8))
