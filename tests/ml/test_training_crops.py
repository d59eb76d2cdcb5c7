"""The training data path's two shortcuts change no pixel: the JPEG re-encode of a window around the
crop instead of the whole image, and the cache of decoded images for files listed several times."""

import io
import random

import numpy as np
import pytest
from PIL import Image

import ml.data.dataset as dataset_module
from ml.config import PreprocessConfig
from ml.data.dataset import ImageDataset
from ml.data.sources import Sample
from ml.preprocess import Augment, reencoded_crop, to_tensor, train_transform


def _photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Colour noise over smooth gradients: chroma and detail in every JPEG block."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    noisy = base + rng.normal(0, 40, size=(height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def _whole_then_crop(im: Image.Image, box: tuple[int, int, int, int], quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB").crop(box)


@pytest.mark.parametrize("size", [(200, 150), (101, 77), (64, 64)])
def test_a_window_re_encode_gives_the_pixels_of_the_whole_image_re_encode(size):
    im = _photo(*size)
    rng = random.Random(1)
    boxes = [(0, 0, 32, 32), (size[0] - 32, size[1] - 32, size[0], size[1])]  # corners: clipped windows
    boxes += [(x, y, x + 32, y + 32) for x, y in ((rng.randint(0, size[0] - 32), rng.randint(0, size[1] - 32))
                                                   for _ in range(6))]
    for box in boxes:
        for quality in (30, 75, 100):
            expected = np.asarray(_whole_then_crop(im, box, quality))
            assert np.array_equal(np.asarray(reencoded_crop(im, box, quality)), expected), (box, quality)


def test_a_window_too_tight_would_differ_so_the_equality_is_not_trivial():
    # Re-encoding only the crop itself puts it on another block grid: the pixels change.
    im, box = _photo(200, 150), (37, 21, 69, 53)
    crop_only = _whole_then_crop(im.crop(box), (0, 0, 32, 32), 50)
    assert not np.array_equal(np.asarray(crop_only), np.asarray(_whole_then_crop(im, box, 50)))


def test_train_transform_draws_as_before_and_re_encodes_as_the_whole_image():
    """The augmentation's random draws keep their order (blur, JPEG and its quality, crop position,
    flip), so a seed trains on the same crops as before the window shortcut."""
    im = _photo(300, 180, seed=2)
    config = PreprocessConfig(input_size=32, train_crop=32)
    aug = Augment(hflip=True, jpeg_prob=0.5, jpeg_quality=(30, 100))
    re_encoded = 0
    for seed in range(12):
        r = random.Random(seed)
        quality = r.randint(30, 100) if r.random() < 0.5 else None
        left, top = r.randint(0, im.width - 32), r.randint(0, im.height - 32)
        box = (left, top, left + 32, top + 32)
        expected = im.crop(box) if quality is None else _whole_then_crop(im, box, quality)
        if r.random() < 0.5:
            expected = expected.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        re_encoded += quality is not None
        got = train_transform(im, config, aug, random.Random(seed))
        assert np.array_equal(got.numpy(), to_tensor(expected, config).numpy()), seed
    assert 0 < re_encoded < 12  # both branches were taken


def test_an_image_enlarged_to_hold_the_crop_is_still_re_encoded_whole_first():
    im = _photo(20, 24)  # smaller than the 32 px crop: re-encoded, then enlarged 2x by pixel copies
    config = PreprocessConfig(input_size=32, train_crop=32)
    got = train_transform(im, config, Augment(hflip=False, jpeg_prob=1.0, jpeg_quality=(40, 40)), random.Random(0))
    r = random.Random(0)
    r.random(), r.randint(40, 40)
    left, top = r.randint(0, 40 - 32), r.randint(0, 48 - 32)
    whole = _whole_then_crop(im, (0, 0, 20, 24), 40).resize((40, 48), Image.Resampling.NEAREST)
    assert np.array_equal(got.numpy(), to_tensor(whole.crop((left, top, left + 32, top + 32)), config).numpy())


def _listed(tmp_path, times: int) -> list[Sample]:
    path = tmp_path / "photo.png"
    _photo(120, 80).save(path)
    other = tmp_path / "other.png"
    _photo(120, 80, seed=9).save(other)
    return [Sample(path=path, label="real")] * times + [Sample(path=other, label="ai_generated")]


def _decodes(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = dataset_module.decode_image

    def counting(data: bytes, **kw):
        calls.append(1)
        return real(data, **kw)

    monkeypatch.setattr(dataset_module, "decode_image", counting)
    return calls


def test_a_file_listed_several_times_is_decoded_once_with_the_same_pixels(tmp_path, monkeypatch):
    samples = _listed(tmp_path, 4)
    config = PreprocessConfig(input_size=32, train_crop=32)
    aug = Augment(jpeg_prob=0.5)
    plain = ImageDataset(samples, config, train=True, augment=aug, seed=7)
    cached = ImageDataset(samples, config, train=True, augment=aug, seed=7, cache_bytes=2**20)
    calls = _decodes(monkeypatch)
    expected = [plain[i][0] for i in range(len(samples))]
    assert len(calls) == 5
    calls.clear()
    got = [cached[i][0] for i in range(len(samples))]
    assert len(calls) == 2  # one decode per distinct file
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(expected, got))


def test_the_cache_keeps_no_more_than_its_budget(tmp_path, monkeypatch):
    samples = _listed(tmp_path, 3)
    one_image = 120 * 80 * 3
    config = PreprocessConfig(input_size=32, train_crop=32)
    ds = ImageDataset(samples, config, train=True, cache_bytes=one_image + 10)
    calls = _decodes(monkeypatch)
    for i in range(len(samples)):
        ds[i]
    ds[len(samples) - 1]  # the second file did not fit: decoded again
    assert len(calls) == 3
    assert ds._decoded_bytes == one_image
