"""PyTorch datasets over :class:`ml.data.Sample` lists."""

from __future__ import annotations

import random

import torch
from torch.utils.data import Dataset

from ..config import PreprocessConfig
from ..imageio import decode_image
from ..preprocess import Augment, eval_transform, train_transform
from .sources import Sample


class ImageDataset(Dataset):
    """Decodes each sample's file and applies the train or eval preset.

    In training mode every item draws its augmentation from a generator seeded with
    ``(seed, epoch, index)``, so a run is reproducible regardless of worker count.
    """

    def __init__(self, samples: list[Sample], preprocess: PreprocessConfig, *, train: bool,
                 augment: Augment | None = None, seed: int = 0) -> None:
        self.samples = samples
        self.preprocess = preprocess
        self.train = train
        self.augment = augment or Augment()
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        sample = self.samples[index]
        im = decode_image(sample.read_bytes())
        if self.train:
            rng = random.Random(hash((self.seed, self.epoch, index)))
            x = train_transform(im, self.preprocess, self.augment, rng)
        else:
            x, _, _ = eval_transform(im, self.preprocess)
        return x, sample.target
