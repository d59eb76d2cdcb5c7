"""One uncertain band: the case page, the API's analysis and the metrics agree at its edges."""

import pytest

from verification import uncertainty
from verification.models import Analysis

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("p,inside", [(0.4, True), (0.6, True), (0.5, True), (0.39, False), (0.61, False)])
def test_the_page_the_api_and_the_metrics_agree_at_the_edges(settings, p, inside):
    from verification.api.serializers import AnalysisSerializer

    settings.VERITY_UNCERTAIN_MARGIN = 0.1
    analysis = Analysis(probability_ai=p, threshold=0.5)
    assert analysis.is_uncertain is inside
    assert AnalysisSerializer().get_uncertain(analysis) is inside
    assert uncertainty.is_uncertain(p, 0.5) is inside


def test_the_metrics_filter_counts_the_same_rows_as_the_page(settings, people, upload):
    from verification import services

    settings.VERITY_UNCERTAIN_MARGIN = 0.1
    result = services.case_submit(user=people["owner"], team=people["team"], title="t", files=[upload()])
    analysis = Analysis.objects.get(image=result.images[0])
    for p in (0.4, 0.39, 0.6, 0.61):
        Analysis.objects.filter(pk=analysis.pk).update(probability_ai=p, threshold=0.5)
        row = Analysis.objects.get(pk=analysis.pk)
        assert Analysis.objects.filter(uncertainty.uncertain_q(), pk=row.pk).exists() is row.is_uncertain, p
