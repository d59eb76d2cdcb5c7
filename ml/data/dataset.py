"""PyTorch datasets over :class:`ml.data.Sample` lists."""

from __future__ import annotations

import random

import torch
from PIL import Image
from torch.utils.data import Dataset

from ..config import PreprocessConfig
from ..imageio import decode_image
from ..preprocess import Augment, eval_transform, train_transform
from .sources import Sample


class ImageDataset(Dataset):
    """Decodes each sample's file and applies the train or eval preset.

    In training mode every item draws its augmentation from a generator seeded with
    ``(seed, epoch, index)``, so a run is reproducible regardless of worker count.

    ``cache_bytes``: decoded images (by file) are kept, up to this many bytes of pixels, so an image
    listed several times (a source repeated to weigh more) is decoded once per loader process and
    epoch, not once per listing; the pixels are the same either way. 0 keeps none.
    """

    def __init__(self, samples: list[Sample], preprocess: PreprocessConfig, *, train: bool,
                 augment: Augment | None = None, seed: int = 0, cache_bytes: int = 0) -> None:
        self.samples = samples
        self.preprocess = preprocess
        self.train = train
        self.augment = augment or Augment()
        self.seed = seed
        self.epoch = 0
        self.cache_bytes = cache_bytes
        self._decoded: dict[str, Image.Image] = {}
        self._decoded_bytes = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        sample = self.samples[index]
        im = self._image(sample)
        if self.train:
            rng = random.Random(hash((self.seed, self.epoch, index)))
            x = train_transform(im, self.preprocess, self.augment, rng)
        else:
            x, _, _ = eval_transform(im, self.preprocess)
        return x, sample.target

    def _image(self, sample: Sample) -> Image.Image:
        im = self._decoded.get(sample.ref)
        if im is not None:
            return im
        im = decode_image(sample.read_bytes())
        size = im.width * im.height * len(im.getbands())
        if self._decoded_bytes + size <= self.cache_bytes:
            self._decoded[sample.ref] = im
            self._decoded_bytes += size
        return im
