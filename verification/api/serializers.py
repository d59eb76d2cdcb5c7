"""Input and output serializers. Output serializers only read; input ones only validate."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ml.formats import HUMAN_LIST

from .. import hyperparameters, selectors, uncertainty
from .evidence import EvidenceSerializer, LaneSerializer
from .archive import ArchiveMatchSerializer, StabilityCheckSerializer
from ..models import (Analysis, AnalysisStatus, AuditEvent, Case, CaseImage, CaseStatus, Dataset, ModelVersion,
                      Team, TrainingRun, Verdict)

TAG_RE = re.compile(r"^[\w][\w .:-]{0,49}$")
MAX_TAGS = 20


# --- Shared pieces -------------------------------------------------------------------------------



CASE_VERDICT_FILTER_CHOICES = [*Verdict.choices, ("none", "Not judged yet")]

class BlankAsNullChoiceField(serializers.ChoiceField):
    """The database keeps "no verdict yet" as an empty string; the API says null, as documented."""

    def to_representation(self, value):  # type: ignore[no-untyped-def]
        return None if value in ("", None) else super().to_representation(value)

class IdField(serializers.IntegerField):
    """A database id: a positive 64-bit integer. Larger numbers are a 400, not a database error
    (found by the schemathesis fuzz run: SQLite overflowed on a 24-digit id)."""

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(**kwargs)

def query_params(serializer_class: type[serializers.Serializer], request: Any) -> dict[str, Any]:
    """Validated query parameters; unknown values are a 400 with the field named."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class TeamRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ModelVersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    is_demo = serializers.BooleanField()


class UncertainBandSerializer(serializers.Serializer):
    low = serializers.FloatField(help_text="Probabilities from here ...")
    high = serializers.FloatField(help_text="... to here are reported as uncertain.")


def _absolute(request: Any, path: str) -> str:
    return request.build_absolute_uri(path) if request is not None else path


# --- Analyses ----------------------------------------------------------------------------------------

class TileSerializer(serializers.Serializer):
    box = serializers.ListField(child=serializers.IntegerField(), min_length=4, max_length=4,
                                help_text="The tile's place in the original: left, top, width, height (pixels).")
    probability_ai = serializers.FloatField(help_text="This tile's own calibrated p(AI-generated).")


class MapFaithfulnessSerializer(serializers.Serializer):
    faithful = serializers.BooleanField(help_text="Blurring the map's top area lowered the verdict's log-odds "
                                                  "more than blurring random areas of the same size.")
    tile = serializers.IntegerField(help_text="The tile checked (the decisive one).")
    drop_gradcam = serializers.FloatField(required=False, help_text="Drop in log-odds, top Grad-CAM area blurred.")
    drop_random = serializers.FloatField(required=False, help_text="Mean drop in log-odds, random areas blurred.")
    draws = serializers.IntegerField(required=False)
    fraction = serializers.FloatField(required=False, help_text="Share of the tile blurred.")
    flat = serializers.BooleanField(required=False, help_text="The map was flat: it points at nothing.")


class AnalysisSerializer(serializers.ModelSerializer):
    """One run of one model on one image, with its result once done."""

    case = serializers.IntegerField(source="image.case_id", read_only=True)
    # A declared field named like Field.label: the serializer metaclass takes it out of the class.
    label = BlankAsNullChoiceField(choices=Verdict.choices, allow_null=True, read_only=True,  # type: ignore[assignment]
                                   help_text="The verdict; null until the analysis is done.")
    probability_ai = serializers.FloatField(allow_null=True, read_only=True,
                                            help_text="Calibrated probability that the image is AI-generated.")
    uncertain = serializers.SerializerMethodField(
        help_text="True when the probability lies inside the uncertain band: treat the verdict with care.")
    uncertain_band = serializers.SerializerMethodField()
    model_version = ModelVersionRefSerializer(allow_null=True, read_only=True)
    by_demo_model = serializers.SerializerMethodField(
        help_text="True when a demo model (trained on generated demo data) made this verdict: not for real decisions.")
    timings_ms = serializers.DictField(
        child=serializers.FloatField(), read_only=True,
        help_text=("Milliseconds per step of the analysis, and two counts: batch_size (images analysed together) "
                   "and tile_batch (tiles per forward pass)."))
    crop_box = serializers.DictField(child=serializers.IntegerField(), read_only=True,
                                     help_text="The part of the image the model saw (left, top, width, height).")
    error = serializers.CharField(allow_null=True, read_only=True, help_text="Why the analysis failed.")
    heatmap_url = serializers.SerializerMethodField()
    overlay_url = serializers.SerializerMethodField()
    evidence = serializers.SerializerMethodField(
        help_text="The final verdict with its ordered evidence (model and provenance lanes); null until done.")
    lanes = LaneSerializer(many=True, read_only=True, help_text="What each provenance lane found.")
    tiles = TileSerializer(many=True, read_only=True, help_text=(
        "Every native-resolution tile the model judged (empty for analyses made before whole-image analysis)."))
    decisive_tile = serializers.IntegerField(allow_null=True, read_only=True, help_text=(
        "Index into tiles of the tile that speaks most for the verdict."))
    judged_fraction = serializers.FloatField(allow_null=True, read_only=True, help_text=(
        "Share of the image's pixels the tiles covered; below 1 when the tile budget left gaps (not judged)."))
    aggregation = serializers.CharField(read_only=True, help_text=(
        "How the tiles' verdicts became the image's probability (e.g. mean_logit)."))
    map_faithful = serializers.BooleanField(allow_null=True, read_only=True, help_text=(
        "False: the Grad-CAM map is not faithful for this image (do not read it as evidence). Null: not checked."))
    faithfulness = serializers.SerializerMethodField(help_text=(
        "How the map's faithfulness was checked for this image; null when it was not."))

    class Meta:
        model = Analysis
        fields = ["id", "case", "image", "status", "label", "probability_ai", "confidence", "threshold",
                  "uncertain", "uncertain_band", "model_version", "by_demo_model", "timings_ms", "crop_box",
                  "error", "attempts",
                  "created_at", "started_at", "finished_at", "heatmap_url", "overlay_url", "evidence", "lanes",
                  "tiles", "decisive_tile", "judged_fraction", "aggregation", "map_faithful", "faithfulness"]
        read_only_fields = fields

    def to_representation(self, instance: Analysis) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["label"] = instance.label or None
        data["error"] = instance.error or None
        return data

    @extend_schema_field(MapFaithfulnessSerializer(allow_null=True))
    def get_faithfulness(self, obj: Analysis) -> dict[str, Any] | None:
        # Analyses recorded before the check (or with it turned off) keep an empty dict.
        return MapFaithfulnessSerializer(obj.faithfulness).data if obj.faithfulness else None

    @extend_schema_field(serializers.BooleanField())
    def get_by_demo_model(self, obj: Analysis) -> bool:
        return bool(obj.model_version is not None and obj.model_version.is_demo)

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_uncertain(self, obj: Analysis) -> bool | None:
        if obj.threshold is None or obj.probability_ai is None:
            return None
        return uncertainty.is_uncertain(obj.probability_ai, obj.threshold)

    @extend_schema_field(UncertainBandSerializer(allow_null=True))
    def get_uncertain_band(self, obj: Analysis) -> dict[str, float] | None:
        edges = uncertainty.band(obj.threshold)
        if edges is None:
            return None
        return {"low": round(edges[0], 6), "high": round(edges[1], 6)}

    @extend_schema_field(EvidenceSerializer(allow_null=True))
    def get_evidence(self, obj: Analysis) -> dict[str, Any] | None:
        return obj.evidence or None

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_heatmap_url(self, obj: Analysis) -> str | None:
        if not obj.heatmap:
            return None
        return _absolute(self.context.get("request"), reverse("api:analysis-heatmap", args=[obj.pk]))

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_overlay_url(self, obj: Analysis) -> str | None:
        if not obj.heatmap:  # drawn on first request
            return None
        return _absolute(self.context.get("request"), reverse("api:analysis-overlay", args=[obj.pk]))


# --- Images --------------------------------------------------------------------------------------------

class ImageSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField(help_text="The original bytes as uploaded.")
    latest_analysis = serializers.SerializerMethodField(help_text="The newest analysis of this image.")
    seen_before = ArchiveMatchSerializer(source="archive_matches", many=True, read_only=True,
                                         help_text="Near-duplicates of this image in your team's earlier cases.")
    reshare_stability = serializers.SerializerMethodField(help_text="The latest re-share stability check.")

    class Meta:
        model = CaseImage
        fields = ["id", "case", "original_name", "format", "width", "height", "size_bytes", "sha256",
                  "created_at", "file_url", "latest_analysis", "seen_before", "reshare_stability"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_file_url(self, obj: CaseImage) -> str:
        return _absolute(self.context.get("request"), reverse("api:image-file", args=[obj.pk]))

    @extend_schema_field(AnalysisSerializer(allow_null=True))
    def get_latest_analysis(self, obj: CaseImage) -> dict[str, Any] | None:
        # Prefetched newest first by the view; [0] avoids a query per image.
        analyses = list(obj.analyses.all())
        return AnalysisSerializer(analyses[0], context=self.context).data if analyses else None

    @extend_schema_field(StabilityCheckSerializer(allow_null=True))
    def get_reshare_stability(self, obj: CaseImage) -> dict[str, Any] | None:
        checks = list(obj.stability_checks.all())  # prefetched newest first (selectors.archive_prefetch)
        return StabilityCheckSerializer(checks[0]).data if checks else None


# --- Cases ---------------------------------------------------------------------------------------------

class AnalysisCountsSerializer(serializers.Serializer):
    queued = serializers.IntegerField()
    running = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()


class CaseSerializer(serializers.ModelSerializer):
    """A case as listed. ``processing_status`` and ``verdict`` summarise its images' analyses;
    ``review_state`` is where the reviewers stand (open or finalised). ``status`` is the deprecated
    name of ``processing_status`` (API 1.0), kept for one version."""

    team = TeamRefSerializer(read_only=True)
    # A plain string: an empty value ("no source given") is not a URI, so no format is claimed.
    source_url = serializers.CharField(read_only=True, help_text="Where the image was found; empty if not given.")
    created_by = serializers.CharField(source="created_by.get_username", read_only=True)
    tags = serializers.SerializerMethodField()
    image_count = serializers.IntegerField(source="n_images", read_only=True)
    analyses = serializers.SerializerMethodField()
    processing_status = serializers.SerializerMethodField(
        help_text="Where the analyses stand: pending (some queued or running), done (all finished, one or more "
                  "succeeded) or failed (all failed).")
    review_state = serializers.ChoiceField(
        source="status", choices=CaseStatus.choices, read_only=True,
        help_text="Where the reviewers stand: open, or finalised by a lead with a final verdict.")
    status = serializers.SerializerMethodField(
        help_text="Deprecated since 1.1: the old name of processing_status (not of review_state); removed in 2.0.")
    verdict = serializers.SerializerMethodField(
        help_text="ai_generated if any image was judged AI-generated, real if all judged images are real, "
                  "null while nothing is judged.")
    verdict_by_demo_model = serializers.BooleanField(
        source="model_verdict_demo", read_only=True,
        help_text="True when a demo model (trained on generated demo data) made a verdict behind this case's: "
                  "not for real decisions.")

    class Meta:
        model = Case
        fields = ["id", "title", "team", "source_url", "notes", "tags", "created_by", "created_at",
                  "image_count", "analyses", "processing_status", "review_state", "status", "verdict",
                  "verdict_by_demo_model"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tags(self, obj: Case) -> list[str]:
        return [t.name for t in obj.tags.all()]

    @extend_schema_field(AnalysisCountsSerializer)
    def get_analyses(self, obj: Case) -> dict[str, int]:
        return {"queued": obj.n_queued, "running": obj.n_running, "done": obj.n_done,  # type: ignore[attr-defined]
                "failed": obj.n_failed}  # type: ignore[attr-defined]

    @extend_schema_field(serializers.ChoiceField(choices=selectors.PROCESSING_STATES))
    def get_processing_status(self, obj: Case) -> str:
        return selectors.processing_status(obj)

    @extend_schema_field(serializers.ChoiceField(choices=selectors.PROCESSING_STATES))
    def get_status(self, obj: Case) -> str:
        return selectors.processing_status(obj)

    @extend_schema_field(serializers.ChoiceField(choices=Verdict.choices, allow_null=True))
    def get_verdict(self, obj: Case) -> str | None:
        if obj.n_ai:  # type: ignore[attr-defined]
            return Verdict.AI_GENERATED
        return Verdict.REAL if obj.n_real else None  # type: ignore[attr-defined]


class CaseDetailSerializer(CaseSerializer):
    images = ImageSerializer(many=True, read_only=True)

    class Meta(CaseSerializer.Meta):
        fields = [*CaseSerializer.Meta.fields, "images"]
        read_only_fields = fields


class RejectedFileSerializer(serializers.Serializer):
    file = serializers.CharField()
    reason = serializers.CharField()


class CaseCreatedSerializer(CaseDetailSerializer):
    """The new case, and the files that were refused (a refused file does not stop the others)."""

    rejected = serializers.SerializerMethodField()

    class Meta(CaseDetailSerializer.Meta):
        fields = [*CaseDetailSerializer.Meta.fields, "rejected"]
        read_only_fields = fields

    @extend_schema_field(RejectedFileSerializer(many=True))
    def get_rejected(self, obj: Case) -> list[dict[str, str]]:
        return list(self.context.get("rejected", []))


class CaseCreateSerializer(serializers.Serializer):
    """multipart/form-data. Send one or more ``images`` parts; a zip of images counts as its images."""

    images = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True), allow_empty=False,
        help_text=f"Image files ({HUMAN_LIST}) or zip archives of them.")
    team = IdField(required=False, help_text="Team id; optional if you are in one team.")
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    source_url = serializers.URLField(max_length=1000, required=False, allow_blank=True, default="")
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)


def _clean_tags(values: list[str]) -> list[str]:
    out: list[str] = []
    for raw in values:
        tag = " ".join(raw.split()).lower()
        if not TAG_RE.match(tag):
            raise serializers.ValidationError(
                f"{raw!r} is not a valid tag: 1 to 50 letters, digits, spaces or . _ : -, starting with a "
                "letter or digit.")
        if tag not in out:
            out.append(tag)
    return out


class CaseUpdateSerializer(serializers.Serializer):
    """Change a case's notes and tags. ``tags`` replaces them all; ``add_tags``/``remove_tags`` edit."""

    notes = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, max_length=MAX_TAGS)
    add_tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False,
                                     max_length=MAX_TAGS)
    remove_tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False,
                                        max_length=MAX_TAGS)

    def validate_tags(self, value: list[str]) -> list[str]:
        return _clean_tags(value)

    def validate_add_tags(self, value: list[str]) -> list[str]:
        return _clean_tags(value)

    def validate_remove_tags(self, value: list[str]) -> list[str]:
        return [" ".join(v.split()).lower() for v in value]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "tags" in attrs and ("add_tags" in attrs or "remove_tags" in attrs):
            raise serializers.ValidationError("Send either tags, or add_tags/remove_tags, not both.")
        if not attrs:
            raise serializers.ValidationError("Nothing to change: send notes, tags, add_tags or remove_tags.")
        return attrs


class CaseFilterSerializer(serializers.Serializer):
    """Query parameters of the case list."""

    processing_status = serializers.ChoiceField(choices=selectors.PROCESSING_STATES, required=False,
                                                help_text="Where the analyses stand.")
    review_state = serializers.ChoiceField(choices=CaseStatus.choices, required=False,
                                           help_text="Where the reviewers stand.")
    status = serializers.ChoiceField(choices=selectors.PROCESSING_STATES, required=False,
                                     help_text="Deprecated since 1.1: use processing_status; removed in 2.0.")
    verdict = serializers.ChoiceField(choices=CASE_VERDICT_FILTER_CHOICES, required=False)
    created_after = serializers.DateTimeField(required=False, help_text="ISO 8601, inclusive.")
    created_before = serializers.DateTimeField(required=False, help_text="ISO 8601, exclusive.")
    search = serializers.CharField(required=False, max_length=200,
                                   help_text="Words found in the title, source URL or notes.")
    team = IdField(required=False)
    tag = serializers.CharField(required=False, max_length=50)
    seen_before = serializers.BooleanField(required=False, default=False,
                                           help_text="Only cases holding a near-duplicate of an earlier case's image.")
    ordering = serializers.ChoiceField(
        choices=["created_at", "-created_at", "title", "-title"], required=False, default="-created_at")


class AnalysisFilterSerializer(serializers.Serializer):
    case = IdField(required=False)
    image = IdField(required=False)
    status = serializers.ChoiceField(choices=AnalysisStatus.choices, required=False)
    # A declared field named like Field.label: the serializer metaclass takes it out of the class.
    label = serializers.ChoiceField(choices=Verdict.choices, required=False)  # type: ignore[assignment]
    ordering = serializers.ChoiceField(choices=["created_at", "-created_at", "probability_ai", "-probability_ai"],
                                       required=False, default="-created_at")


class ImageFilterSerializer(serializers.Serializer):
    case = IdField(required=False)
    sha256 = serializers.RegexField(r"^[0-9a-f]{64}$", required=False)


# --- Audit events, model versions, metrics ---------------------------------------------------------------

class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "action", "actor", "object_type", "object_id", "details"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_actor(self, obj: AuditEvent) -> str | None:
        return obj.actor.get_username() if obj.actor else None


class ModelVersionSerializer(serializers.ModelSerializer):
    model_card = serializers.JSONField(
        read_only=True, help_text="The model card (ml.modelcard schema 1): training data with sources, counts "
        "and licences, recipe, per-source test metrics, calibration, robustness, shortcut baseline, known "
        "limits, and the agreement of bf16/int8 with fp32 on validation (precision). {} for checkpoints made "
        "without one.")

    class Meta:
        model = ModelVersion
        fields = ["id", "name", "architecture", "input_size", "is_demo", "is_active", "checkpoint_sha256",
                  "metrics", "model_card", "created_at"]
        read_only_fields = fields


class MetricsSerializer(serializers.Serializer):
    cases = serializers.IntegerField()
    images = serializers.IntegerField()
    analyses = AnalysisCountsSerializer()
    verdicts = serializers.DictField(child=serializers.IntegerField(), help_text="Done analyses per label.")
    uncertain = serializers.IntegerField(help_text="Done analyses inside the uncertain band.")
    active_model = ModelVersionSerializer(allow_null=True)


class TokenInfoSerializer(serializers.Serializer):
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    webhook_url = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    teams = TeamRefSerializer(many=True)
    token = TokenInfoSerializer(allow_null=True, help_text="The token of this request; null for a portal session.")


# --- Model lifecycle: datasets, training runs, promotion (admins) -------------------------------

class DatasetScanSerializer(serializers.Serializer):
    files_seen = serializers.IntegerField(help_text="Files read so far (updated about every second).")
    files_total = serializers.IntegerField(help_text="Files to read; 0 while the scan has not listed them yet.")
    progress = serializers.FloatField(allow_null=True, help_text="files_seen / files_total, null while unknown.")
    attempts = serializers.IntegerField(help_text="Times a worker took the scan (more after a worker died).")
    error = serializers.CharField(help_text="Why the scan failed; empty otherwise.")
    finished_at = serializers.DateTimeField(allow_null=True)


class DatasetSerializer(serializers.ModelSerializer):
    analysis = serializers.JSONField(read_only=True, help_text=(
        "Counts computed by the scan: total, by_class, by_split, by_source, by_generator, sizes "
        "(binned shorter side), decoded, undecodable and duplicate groups. Empty until the scan is ready."))
    team: serializers.PrimaryKeyRelatedField[Team] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text=("The team whose admins see, train on and rescan it "
                                                    "(null: registered before datasets had a team)."))
    scan = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = ["id", "name", "origin", "path", "team", "status", "scan", "fingerprint", "analysis", "created_at"]
        read_only_fields = fields
        extra_kwargs = {"status": {"help_text": "pending (waiting for a worker), scanning, ready (can be trained "
                                                "on) or failed (see scan.error; rescan once the data is fixed)."},
                        "origin": {"help_text": "How the dataset came in: a path on the server, an uploaded "
                                                "zip, or reviewed cases (the last two live in a folder Verity owns)."}}

    @extend_schema_field(DatasetScanSerializer)
    def get_scan(self, dataset: Dataset) -> dict[str, Any]:
        return {"files_seen": dataset.files_seen, "files_total": dataset.files_total,
                "progress": dataset.progress, "attempts": dataset.scan_attempts, "error": dataset.scan_error,
                "finished_at": dataset.scan_finished_at}


class _DatasetTeamSerializer(serializers.Serializer):
    """A new dataset's team: one the requesting user administers (a superuser: any team). Another
    team and an unknown id get the same answer. Optional for an admin of exactly one team."""

    team = IdField(required=False, allow_null=True, help_text=(
        "Id of the team the dataset belongs to (its admins see it, train on it and rescan it): one you "
        "administer. Required when you administer several teams."))

    def validate_team(self, value: int | None) -> Any:
        if value is None:
            return None
        request = self.context.get("request")
        team = selectors.admin_teams(request.user).filter(pk=value).first() if request is not None else None
        if team is None:
            raise serializers.ValidationError("No such team among those you administer.")
        return team


class DatasetCreateSerializer(_DatasetTeamSerializer):
    name = serializers.CharField(max_length=120)
    path = serializers.CharField(max_length=500, help_text="Absolute path on the server: a folder "
                                 "(<split>/<REAL|FAKE>/… or with a MANIFEST.csv) or a CSV manifest.")


class DatasetUploadSerializer(_DatasetTeamSerializer):
    name = serializers.CharField(max_length=120)
    archive = serializers.FileField(help_text="A zip of <split>/<REAL|FAKE>/… or <REAL|FAKE>/… folders, or of a "
                                    "CSV manifest with its images. Send it instead of `path`.")

    def validate(self, attrs: dict) -> dict:  # type: ignore[type-arg]
        if "path" in self.initial_data:
            raise serializers.ValidationError({"path": ["Send either a path or an archive, not both."]})
        return attrs


class DatasetFromReviewsSerializer(_DatasetTeamSerializer):
    name = serializers.CharField(max_length=120)
    mix_with = IdField(required=False, allow_null=True, help_text="Id of a registered dataset whose samples "
                       "are added with their own source and split (optional).")


def _hyperparameter_field(name: str) -> serializers.Field:
    """A field with the bounds, default and out-of-range message of ``hyperparameters.LIMITS``."""
    limit = hyperparameters.LIMITS[name]
    # Callable, not the union of the two classes: the stubs' IntegerField takes int bounds only.
    kind: Callable[..., serializers.Field] = serializers.IntegerField if limit.kind is int else serializers.FloatField
    return kind(required=False, min_value=limit.low, max_value=limit.high, help_text=limit.help_text,
                error_messages={"min_value": limit.out_of_range, "max_value": limit.out_of_range})


class HyperparametersSerializer(serializers.Serializer):
    """Bounds, defaults and messages are verification.hyperparameters' (shared with the training form
    and the service, whose check across fields, train_crop <= input_size, answers as API 1.0 did):
    one field per entry of ``hyperparameters.LIMITS``, in its order."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields.update({name: _hyperparameter_field(name) for name in hyperparameters.LIMITS})
        return fields


class TrainingRunCreateSerializer(serializers.Serializer):
    dataset = serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text="Id of a registered dataset.")
    base_model = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**31 - 1,
                                          help_text="Id of the model version to start from: the run "
                                                    "fine-tunes its weights (and is compared with it).")
    hyperparameters = HyperparametersSerializer(required=False)


class TrainingRunSerializer(serializers.ModelSerializer):
    hyperparameters = serializers.JSONField(read_only=True)
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)

    class Meta:
        model = TrainingRun
        fields = ["id", "dataset", "dataset_name", "base_model", "hyperparameters", "status", "cancel_requested",
                  "epoch", "epochs", "step", "total_steps", "train_loss", "train_accuracy", "val_accuracy", "eta_s",
                  "attempts", "error",
                  "model_version", "created_at", "started_at", "finished_at", "updated_at"]
        read_only_fields = fields


class PromoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, help_text="Why this version is promoted (or rolled back to).")
