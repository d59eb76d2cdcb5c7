"""Cases whose images carry human verdicts, made through the same services the portal uses."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile


def reviewed_case(*, team: Any, reviewer: Any, finaliser: Any, images: list[tuple[bytes, str]],
                  finalise: bool = True, title: str = "Reviewed") -> Any:
    """A case of ``team`` with one image per ``(png bytes, verdict)``, each reviewed by ``reviewer``
    with that verdict, then finalised by ``finaliser`` (a lead or a superuser) unless told not to.

    The analyses are failed first (no model runs in these tests): a case cannot be finalised while
    any analysis is queued, and a review without a finished analysis is an override with a comment."""
    from verification import services
    from verification.models import Analysis

    files = [SimpleUploadedFile(f"img{i}.png", data, content_type="image/png") for i, (data, _) in enumerate(images)]
    result = services.case_submit(user=reviewer, team=team, title=title, files=files)
    for analysis in Analysis.objects.filter(image__case=result.case):
        services.analysis_fail(analysis_id=analysis.pk, reason="No model runs in this test.")
    for image, (_, verdict) in zip(result.images, images):
        services.review_record(user=reviewer, image=image, verdict=verdict, comment="Checked by hand.")
    if finalise:
        services.case_finalise(user=finaliser, case=result.case, verdict="real")
    result.case.refresh_from_db()
    return result.case
