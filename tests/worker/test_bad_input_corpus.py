"""A corpus of hostile and unusual files, generated here, submitted together in one case: each one
gets a clear error or a correct analysis, and none stops the others."""

import io

import pytest
from PIL import Image

from tests.images import bomb_png, encode, jpeg_bytes, photo_like, png_bytes
from verification import services
from verification.models import Analysis, AnalysisStatus
from worker import model_cache
from worker.tasks import analyse_image
from tests.queueing import each_analysis as _each_analysis

pytestmark = pytest.mark.django_db


def _animated_gif() -> bytes:
    frames = [photo_like((48, 48), seed=i).convert("P") for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buf.getvalue()


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(photo_like((80, 40)), "JPEG", exif=exif.tobytes())


def _sixteen_bit() -> bytes:
    return encode(photo_like((40, 40)).convert("L").point(lambda v: v * 256, "I").convert("I;16"), "PNG")


REJECTED = {
    "empty.jpg": (b"", "empty"),
    "text.jpg": (b"This is a text file with an image name.\n" * 20, "not a readable image"),
    "truncated.jpg": (jpeg_bytes((300, 300))[:900], "not a readable image"),
    "truncated.png": (png_bytes((300, 300))[:900], "not a readable image"),
    "bomb.png": (bomb_png(50_000, 50_000), "pixels"),
    "drawing.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>',
                    "not a readable image"),
}

ACCEPTED = {
    "animated.gif": _animated_gif,
    "cmyk.jpg": lambda: encode(photo_like((64, 48)).convert("CMYK"), "JPEG"),
    "sixteen-bit.png": _sixteen_bit,
    "palette.png": lambda: encode(photo_like((64, 48)).convert("P"), "PNG"),
    "alpha.png": lambda: encode(photo_like((64, 48)).convert("RGBA"), "PNG"),
    "rotated.jpg": _exif_rotated,
    "photo.webp": lambda: encode(photo_like((64, 48)), "WEBP"),
    "scan.tiff": lambda: encode(photo_like((64, 48)), "TIFF"),
    "long-strip.png": lambda: png_bytes((6000, 16)),
}


def test_every_file_of_the_corpus_gets_a_clear_error_or_a_correct_analysis(people, upload, monkeypatch,
                                                                          active_version):
    monkeypatch.setattr("verification.queue.enqueue_analysis", lambda aid: None)
    monkeypatch.setattr("verification.queue.enqueue_analyses", _each_analysis)
    model_cache.clear()
    files = [upload(name, data) for name, (data, _) in REJECTED.items()]
    files += [upload(name, make()) for name, make in ACCEPTED.items()]
    result = services.case_submit(user=people["owner"], team=people["team"], title="corpus", files=files)

    reasons = {r.name: r.reason for r in result.rejected}
    assert set(reasons) == set(REJECTED)
    for name, (_, fragment) in REJECTED.items():
        assert fragment in reasons[name], (name, reasons[name])
    assert {i.original_name for i in result.images} == set(ACCEPTED)

    for image in result.images:
        analyse_image.run(Analysis.objects.get(image=image).pk)
    analyses = Analysis.objects.filter(image__case=result.case).select_related("image")
    assert {a.image.original_name: a.status for a in analyses} == {n: AnalysisStatus.DONE for n in ACCEPTED}
    rotated = next(a for a in analyses if a.image.original_name == "rotated.jpg")
    assert (rotated.image.width, rotated.image.height) == (80, 40)  # as stored; analysed upright
