"""The heatmap overlay is drawn from the stored image and heatmap on its first request, then kept."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from ml.heatmaps import heatmap_from_png, render_overlay
from tests.images import jpeg_bytes
from tests.verification.conftest import finish
from verification import services, storage
from verification.models import Analysis


@pytest.fixture
def done(people, upload, version):  # type: ignore[no-untyped-def]
    """A done analysis of a 120 x 90 JPEG whose model crop is the 64 x 64 box at (30, 10)."""
    result = services.case_submit(user=people["owner"], team=people["team"], title="Flood",
                                  files=[upload("flood.jpg", jpeg_bytes((120, 90), seed=5), "image/jpeg")])
    analysis = Analysis.objects.get(image=result.images[0])
    finish(analysis, version, "ai_generated", 0.9)
    Analysis.objects.filter(pk=analysis.pk).update(crop_box={"left": 30, "top": 10, "width": 64, "height": 64})
    return Analysis.objects.get(pk=analysis.pk)


def _url(analysis: Analysis) -> str:
    return reverse("verification:analysis_file", args=[analysis.pk, "overlay"])


def test_the_worker_leaves_no_overlay_and_the_first_request_draws_it_over_the_models_crop(client, people, done):
    assert done.overlay == ""
    client.force_login(people["owner"])
    response = client.get(_url(done))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    drawn = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    # The same pixels as blending the stored heatmap onto the crop the model saw, drawn by hand.
    with Image.open(io.BytesIO(storage.read(done.image.file))) as original:
        crop = original.convert("RGB").crop((30, 10, 94, 74))
    expected = np.asarray(render_overlay(crop, heatmap_from_png(storage.read(done.heatmap))))
    assert drawn.shape == (64, 64, 3)
    assert np.array_equal(drawn, expected)
    done.refresh_from_db()
    assert done.overlay and storage.read(done.overlay) == response.content


def test_a_drawn_overlay_is_served_again_without_drawing(client, people, done, monkeypatch):
    client.force_login(people["owner"])
    first = client.get(_url(done)).content

    def no_second_drawing(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the overlay was drawn twice")

    monkeypatch.setattr("verification.services.overlays.render_overlay", no_second_drawing)
    assert client.get(_url(done)).content == first


def test_an_outsider_neither_sees_nor_causes_an_overlay(client, people, done):
    client.force_login(people["outsider"])
    assert client.get(_url(done)).status_code == 404
    done.refresh_from_db()
    assert done.overlay == ""


def test_an_unfinished_analysis_has_no_overlay_yet(client, people, upload):
    result = services.case_submit(user=people["owner"], team=people["team"], title="Queued", files=[upload()])
    analysis = Analysis.objects.get(image=result.images[0])
    client.force_login(people["owner"])
    assert client.get(_url(analysis)).status_code == 404
    assert services.analysis_overlay(analysis) == ""


def test_a_missing_stored_image_is_a_404_not_a_crash(client, people, done):
    from django.core.files.storage import default_storage

    default_storage.delete(done.image.file)
    client.force_login(people["owner"])
    assert client.get(_url(done)).status_code == 404
