"""Serializers of an analysis's verdict with its evidence and of the provenance lanes, for the
API's ``evidence`` and ``lanes`` fields and their OpenAPI schema (rules: verification.evidence)."""

from __future__ import annotations

from rest_framework import serializers

DIRECTIONS = ["ai_generated", "real", "neutral"]
STRENGTHS = ["decisive", "warning", "supporting", "weak", "info"]


class EvidenceItemSerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=DIRECTIONS, help_text="Which way the item points.")
    strength = serializers.ChoiceField(
        choices=STRENGTHS, help_text="decisive, supporting or weak; warning (e.g. a tampered manifest) and info "
                                     "say something about the file but support neither verdict.")
    # A declared field named like Field.source: the serializer metaclass takes it out of the class.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="Where it comes from: the model, C2PA manifest, XMP, ...")
    text = serializers.CharField(help_text="What it says, in words.")
    lane = serializers.CharField(help_text="The lane id (c2pa, xmp, generator_parameters, exif_software, "
                                           "camera_exif) or model.")


class EvidenceSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=["ai_generated", "real", "needs_review"],
                                      help_text="The final verdict; needs_review: the evidence conflicts, a human "
                                                "decides.")
    headline = serializers.CharField(help_text='One line, e.g. "AI-generated (declared by its C2PA manifest)".')
    needs_human = serializers.BooleanField()
    conflict = serializers.CharField(allow_blank=True, help_text="Which items disagree, if any.")
    probability_ai = serializers.FloatField(help_text="The model's calibrated p(AI-generated), shown beside it.")
    threshold = serializers.FloatField()
    model_label = serializers.ChoiceField(choices=["ai_generated", "real"], help_text="The model's own verdict.")
    provenance = serializers.ChoiceField(choices=["", "present", "declared_ai", "invalid", "tampered"],
                                         help_text="Summary of the image's provenance; blank: none found.")
    rules_version = serializers.IntegerField()
    items = EvidenceItemSerializer(many=True, help_text="Ordered: decisive, warnings, supporting, weak, info.")


class LaneSerializer(serializers.Serializer):
    lane = serializers.CharField()
    state = serializers.ChoiceField(choices=["found", "absent", "error"])
    claim = serializers.ChoiceField(choices=["ai_generated", "capture", ""])
    strength = serializers.ChoiceField(choices=["decisive", "supporting", "weak", "none"])
    summary = serializers.CharField()
    found = serializers.DictField(help_text="What the lane found, verbatim (long values are cut with a mark).")
    error = serializers.CharField(allow_blank=True)
