"""Dashboard figures for the provenance lanes: how many images carried provenance, what kind, and
how often it agreed with the model (reads only, scoped to the teams a user leads)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

from ..evidence import DECLARED_AI, INVALID, NO_PROVENANCE, PRESENT, TAMPERED
from ..models import Analysis, AnalysisStatus, Team
from ..provenance import LANES

__all__ = ["ProvenanceReport", "provenance_report"]


@dataclass
class ProvenanceReport:
    images: int = 0  # images with a finished analysis
    by_summary: dict[str, int] = field(default_factory=lambda: {TAMPERED: 0, INVALID: 0, DECLARED_AI: 0,
                                                                 PRESENT: 0, NO_PROVENANCE: 0})
    lanes_found: dict[str, int] = field(default_factory=lambda: {lane: 0 for lane in LANES})
    lanes_failed: dict[str, int] = field(default_factory=lambda: {lane: 0 for lane in LANES})
    with_claim: int = 0  # images where some lane points one way (towards AI-generated or real)
    agreed: int = 0  # ... and every such lane points where the model does
    needs_human: int = 0

    @property
    def with_provenance(self) -> int:
        return self.images - self.by_summary[NO_PROVENANCE]

    @property
    def agreement_rate(self) -> float | None:
        return self.agreed / self.with_claim if self.with_claim else None


def provenance_report(teams: QuerySet[Team]) -> ProvenanceReport:
    """Over the newest finished analysis of each image of the teams' cases."""
    report = ProvenanceReport()
    seen: set[int] = set()
    rows = (Analysis.objects.filter(image__case__team__in=teams, status=AnalysisStatus.DONE)
            .order_by("image_id", "-created_at", "-id").values_list("image_id", "lanes", "evidence", "provenance"))
    for image_id, lanes, evidence, provenance in rows.iterator():
        if image_id in seen:
            continue
        seen.add(image_id)
        report.images += 1
        report.by_summary[provenance if provenance in report.by_summary else NO_PROVENANCE] += 1
        for lane in lanes or []:
            name = lane.get("lane")
            if name in report.lanes_found and lane.get("state") == "found":
                report.lanes_found[name] += 1
            elif name in report.lanes_failed and lane.get("state") == "error":
                report.lanes_failed[name] += 1
        evidence = evidence or {}
        report.needs_human += bool(evidence.get("needs_human"))
        directions = {i["direction"] for i in evidence.get("items", [])
                      if i.get("lane") != "model" and i.get("direction") in ("ai_generated", "real")}
        if directions:
            report.with_claim += 1
            report.agreed += directions == {evidence.get("model_label")}
    return report
