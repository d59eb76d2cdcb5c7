"""A case whose images carry provenance, analysed the way the worker records it (lanes read from
the bytes, a model result given): shared by the page, API and dashboard tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.images import heatmap_png

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "c2pa"


def analysed_case(*, user: Any, team: Any, version: Any, title: str, files: dict[str, tuple[bytes, float]]) -> Any:
    """``files``: name -> (bytes, model p(AI-generated)). Returns the case."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from verification import services
    from verification.models import Analysis
    from verification.provenance import read_lanes

    uploads = [SimpleUploadedFile(name, data) for name, (data, _) in files.items()]
    result = services.case_submit(user=user, team=team, title=title, files=uploads)  # type: ignore[arg-type]  # the stub types SimpleUploadedFile's name and size as optional
    for image in result.images:
        data, p = files[image.original_name]
        analysis = Analysis.objects.get(image=image)
        services.analysis_start(analysis_id=analysis.pk)
        services.analysis_record(analysis_id=analysis.pk, model_version_id=version.pk, outcome=services.AnalysisOutcome(
            label="ai_generated" if p >= 0.5 else "real", probability_ai=p, confidence=max(p, 1 - p), threshold=0.5,
            crop_box={"left": 0, "top": 0, "width": 64, "height": 64}, timings_ms={"inference_gradcam": 40.0},
            heatmap_png=heatmap_png(), lanes=read_lanes(data, image.format)))
    result.case.refresh_from_db()
    return result.case
