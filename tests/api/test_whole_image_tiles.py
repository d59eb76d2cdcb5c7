"""Whole-image analysis through the portal: the worker records the judged tiles, the decisive tile,
the judged share and the map's faithfulness; the API and the case page show them to the team, and
nobody else sees them."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from ml.tilemaps import judged_from_png
from ml.tiling import judged_mask, plan_tiles
from tests.images import png_bytes
from verification import services
from verification.models import Analysis
from worker import model_cache
from worker.tasks import analyse_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def analysed(people, upload, active_version, settings):  # type: ignore[no-untyped-def]
    """A 150 x 100 image analysed by the real worker task with a budget of 4 tiles of 64 px: the full
    grid (3 x 2) does not fit, so some of the image is not judged."""
    settings.VERITY_MAX_TILES = 4
    model_cache.clear()
    result = services.case_submit(user=people["owner"], team=people["team"], title="Pier",
                                  files=[upload("pier.png", png_bytes((150, 100), seed=3))])
    analysis = Analysis.objects.get(image=result.images[0])
    analyse_image.run(analysis.pk)
    model_cache.clear()
    analysis.refresh_from_db()
    return analysis


def test_the_worker_records_the_tiles_the_decisive_tile_and_the_judged_share(analysed, settings):
    a = analysed
    plan = plan_tiles(150, 100, 64, 4)
    assert a.status == "done" and a.aggregation == "mean_logit"
    assert [t["box"] for t in a.tiles] == [[b.left, b.top, b.width, b.height] for b in plan.boxes]
    assert len(a.tiles) <= 4 and all(0 <= t["probability_ai"] <= 1 for t in a.tiles)
    assert 0 <= a.decisive_tile < len(a.tiles)
    expected = judged_mask(150, 100, plan.boxes)
    assert a.judged_fraction == pytest.approx(expected.mean(), abs=1e-6) and a.judged_fraction < 1
    assert a.map_faithful in (True, False) and a.faithfulness["tile"] == a.decisive_tile
    assert a.crop_box == {"left": 0, "top": 0, "width": 150, "height": 100}
    # The stored map has the original's size; its alpha says which pixels were judged.
    stored = (settings.MEDIA_ROOT / a.heatmap).read_bytes()
    with Image.open(io.BytesIO(stored)) as im:
        assert im.size == (150, 100)
    assert np.array_equal(judged_from_png(stored), expected)
    # The overlay lies over the whole original, with the not-judged part hatched grey.
    overlay = Image.open(settings.MEDIA_ROOT / services.analysis_overlay(a)).convert("RGB")
    assert overlay.size == (150, 100)
    px = np.asarray(overlay).astype(int)
    spread = px.max(axis=2) - px.min(axis=2)  # grey: channels equal
    assert (spread[~expected] <= 2).all()


def test_the_api_shows_the_tiles_to_the_team_and_hides_them_from_outsiders(analysed, api):
    body = api("owner").get(f"/api/v1/analyses/{analysed.pk}/").json()
    assert body["tiles"] == analysed.tiles and body["decisive_tile"] == analysed.decisive_tile
    assert body["judged_fraction"] == pytest.approx(analysed.judged_fraction)
    assert body["aggregation"] == "mean_logit" and body["map_faithful"] == analysed.map_faithful
    assert body["faithfulness"]["tile"] == analysed.decisive_tile
    image = api("teammate").get(f"/api/v1/images/{analysed.image_id}/").json()
    assert image["latest_analysis"]["tiles"] == analysed.tiles
    outsider = api("outsider")
    assert outsider.get(f"/api/v1/analyses/{analysed.pk}/").status_code == 404
    listed = outsider.get("/api/v1/analyses/").json()
    assert all(item["id"] != analysed.pk for item in listed.get("results", listed))


def test_the_schema_describes_the_tile_fields(spec):
    props = spec["components"]["schemas"]["Analysis"]["properties"]
    for name in ("tiles", "decisive_tile", "judged_fraction", "aggregation", "map_faithful", "faithfulness"):
        assert name in props, name
    tile = spec["components"]["schemas"]["Tile"]["properties"]
    assert set(tile) == {"box", "probability_ai"}


def test_the_case_page_shows_judged_areas_and_the_decisive_tile_to_the_team_only(analysed, client, people):
    url = reverse("verification:case_detail", args=[analysed.image.case_id])
    client.force_login(people["teammate"])
    page = client.get(url).content.decode()
    assert f'id="tiles-{analysed.image_id}"' in page
    assert f'data-decisive-tile="{analysed.decisive_tile}"' in page
    assert page.count('<rect class="tile') == len(analysed.tiles)
    assert "not judged" in page  # the budget left gaps, and the page says so
    client.force_login(people["outsider"])
    assert client.get(url).status_code == 404


def test_a_map_not_faithful_for_the_image_is_replaced_by_a_warning(analysed, client, people):
    url = reverse("verification:case_detail", args=[analysed.image.case_id])
    client.force_login(people["owner"])
    Analysis.objects.filter(pk=analysed.pk).update(map_faithful=True)
    page = client.get(url).content.decode()
    assert 'data-map-faithful="false"' not in page and f'id="overlay-{analysed.image_id}"' in page
    Analysis.objects.filter(pk=analysed.pk).update(map_faithful=False)
    page = client.get(url).content.decode()
    assert 'data-map-faithful="false"' in page and "not faithful for this image" in page
    assert f'id="overlay-{analysed.image_id}"' not in page  # the misleading heatmap is not shown


def test_the_report_leaves_out_a_map_not_faithful_for_the_image(analysed, client, people):
    url = reverse("verification:case_report", args=[analysed.image.case_id])
    overlay = reverse("verification:analysis_file", args=[analysed.pk, "overlay"])
    client.force_login(people["owner"])
    Analysis.objects.filter(pk=analysed.pk).update(map_faithful=True)
    assert overlay in client.get(url).content.decode()
    Analysis.objects.filter(pk=analysed.pk).update(map_faithful=False)
    page = client.get(url).content.decode()
    assert overlay not in page and 'data-map-faithful="false"' in page
