"""API views: input serializer → service → output serializer. Querysets come from
verification.selectors (its api_lists module for the lists), so every object here is scoped to the
caller's teams; another team's object is a 404, never a 403."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema,
                                   extend_schema_view)
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ml.formats import MEDIA_TYPES

from .. import selectors, services, serving
from ..models import ApiToken
from ..errors import NoActiveModel, VerityError
from ..models import Analysis, CaseImage
from .permissions import HasTokenScope, IsVerityAdmin
from .schema import errors
from .serializers import (AnalysisFilterSerializer, AnalysisSerializer, AuditEventSerializer,
                          CaseCreatedSerializer, CaseCreateSerializer, CaseDetailSerializer, CaseFilterSerializer,
                          CaseSerializer, CaseUpdateSerializer, ImageFilterSerializer, ImageSerializer,
                          MeSerializer, MetricsSerializer, ModelVersionSerializer, query_params)
from .serializers import (DatasetCreateSerializer, DatasetFromReviewsSerializer, DatasetSerializer,
                          DatasetUploadSerializer, PromoteSerializer, TrainingRunCreateSerializer, TrainingRunSerializer)

class FileActionsMixin:
    """Binary downloads: negotiate leniently so an ``Accept: image/png`` client is not refused
    with 406; the bytes bypass the renderers, and errors still render as JSON."""

    file_actions: tuple[str, ...] = ()
    action: str  # as ViewSetMixin declares it (at run time None for a method with no action)

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return super().perform_content_negotiation(  # type: ignore[misc]
            request, force=force or self.action in self.file_actions)


class ResultNotReady(VerityError):
    code = "not_ready"
    status = 409


# --- Examples shared by the schema -----------------------------------------------------------------
# A list operation's example is one item: drf-spectacular wraps it in the paginated envelope itself.

ANALYSIS_EXAMPLE = {
    "id": 41, "case": 7, "image": 12, "status": "done", "label": "ai_generated", "probability_ai": 0.93,
    "confidence": 0.93, "threshold": 0.5, "uncertain": False, "uncertain_band": {"low": 0.35, "high": 0.65},
    "model_version": {"id": 3, "name": "resnet50-2026-11", "is_demo": False},
    "timings_ms": {"decode": 4.1, "preprocess": 2.3, "inference_gradcam": 181.0},
    "crop_box": {"left": 0, "top": 0, "width": 1600, "height": 1200}, "error": None, "attempts": 1,
    "created_at": "2026-11-25T09:30:00Z", "started_at": "2026-11-25T09:30:01Z",
    "finished_at": "2026-11-25T09:30:02Z",
    "heatmap_url": "https://verity.example/api/v1/analyses/41/heatmap/",
    "overlay_url": "https://verity.example/api/v1/analyses/41/overlay/",
    "tiles": [{"box": [0, 0, 224, 224], "probability_ai": 0.97}, {"box": [1376, 976, 224, 224], "probability_ai": 0.41}],
    "decisive_tile": 0, "judged_fraction": 0.82, "aggregation": "mean_logit", "map_faithful": True,
    "faithfulness": {"faithful": True, "tile": 0, "drop_gradcam": 1.9, "drop_random": 0.4, "draws": 3,
                     "fraction": 0.2},
}
IMAGE_EXAMPLE = {
    "id": 12, "case": 7, "original_name": "flood.jpg", "format": "JPEG", "width": 1600, "height": 1200,
    "size_bytes": 482113, "sha256": "9f2c" + "0" * 60, "created_at": "2026-11-25T09:30:00Z",
    "file_url": "https://verity.example/api/v1/images/12/file/", "latest_analysis": ANALYSIS_EXAMPLE,
}
CASE_EXAMPLE = {
    "id": 7, "title": "Flooded high street", "team": {"id": 1, "name": "Metro desk"},
    "source_url": "https://social.example/p/123", "notes": "Sent by a reader.", "tags": ["flood", "reader"],
    "created_by": "alice", "created_at": "2026-11-25T09:30:00Z", "image_count": 1,
    "analyses": {"queued": 0, "running": 0, "done": 1, "failed": 0}, "processing_status": "done",
    "review_state": "open", "status": "done", "verdict": "ai_generated",
}
MODEL_EXAMPLE = {
    "id": 3, "name": "resnet50-2026-11", "architecture": "resnet50", "input_size": 224, "is_demo": False,
    "is_active": True, "checkpoint_sha256": "ab12" + "0" * 60,
    "metrics": {"threshold": 0.5, "temperature": 1.3, "test": {"accuracy": 0.94, "auc": 0.98}},
    "model_card": {"schema": 1, "name": "resnet50-2026-11", "input_size": 32,
                   "metrics": {"unsplash-gemini": {"n": 146, "accuracy": 0.9, "roc_auc": 0.95, "ece": 0.04}},
                   "known_limits": {"not_trained_on": ["commons-zimage"], "notes": []}},
    "created_at": "2026-11-20T12:00:00Z",
}


# --- Cases ------------------------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(
        summary="List cases", tags=["cases"], parameters=[CaseFilterSerializer],
        description="Your teams' cases, newest first. Filter by processing status (the analyses), review "
                    "state (the reviewers), verdict, creation time, team, tag and words in the title, source URL or notes. Scope: read.",
        examples=[OpenApiExample("A page of cases", value=CASE_EXAMPLE, response_only=True)]),
    retrieve=extend_schema(
        summary="Get a case with its images and their latest analyses", tags=["cases"],
        description="Scope: read.",
        examples=[OpenApiExample("A case", value={**CASE_EXAMPLE, "images": [IMAGE_EXAMPLE]},
                                 response_only=True)]),
)
class CaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [HasTokenScope]
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self) -> Any:
        if self.action in ("retrieve", "create", "partial_update"):
            return selectors.api_case_details(self.request.user)
        return selectors.api_cases(self.request.user)

    def get_serializer_class(self) -> type:
        return CaseDetailSerializer if self.action == "retrieve" else CaseSerializer

    def get_parsers(self) -> list[Any]:
        # PATCH takes JSON; creation takes multipart (files). Anything else is a 415.
        if getattr(self.request, "method", "") == "PATCH":
            return [JSONParser()]
        return super().get_parsers()

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = query_params(CaseFilterSerializer, request)
        page = self.paginate_queryset(selectors.api_filter_cases(self.get_queryset(), params))
        return self.get_paginated_response(CaseSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        summary="Submit a case with one or more images (or a zip of images)", tags=["cases"],
        description=(
            "multipart/form-data with one or more `images` parts. A zip archive counts as the images in it. "
            "Files that are not acceptable images are listed in `rejected` and do not stop the others; if "
            "none is acceptable nothing is created (400, or 413/415 when every file is too large or not an "
            "image at all). Send an `Idempotency-Key` header to make retries safe: the same key with the "
            "same request returns the same case (200, `Idempotent-Replayed: true`); the same key with a "
            "different request is a 409. Scope: submit."),
        request={"multipart/form-data": CaseCreateSerializer},
        parameters=[OpenApiParameter(
            "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
            description="A unique value per submission (e.g. a UUID), at most 255 printable characters.")],
        responses={201: CaseCreatedSerializer,
                   200: OpenApiResponse(CaseCreatedSerializer, description="A replay of an earlier request "
                                        "with the same Idempotency-Key: the case it created."),
                   **errors(409, 413, 415)},
        examples=[OpenApiExample("Created", value={**CASE_EXAMPLE, "processing_status": "pending",
                                                   "status": "pending", "verdict": None,
                                                   "analyses": {"queued": 1, "running": 0, "done": 0, "failed": 0},
                                                   "images": [{**IMAGE_EXAMPLE, "latest_analysis": None}],
                                                   "rejected": [{"file": "notes.pdf", "reason":
                                                                 "The file is not a readable image."}]},
                                  response_only=True, status_codes=["201"]),
                  OpenApiExample("Replayed (same Idempotency-Key and request)",
                                 value={**CASE_EXAMPLE, "images": [IMAGE_EXAMPLE], "rejected": []},
                                 response_only=True, status_codes=["200"])],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = CaseCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        result = services.case_submit(
            user=request.user, team=self._team(data.get("team")), title=data["title"], files=list(data["images"]),
            source_url=data["source_url"], notes=data["notes"],
            token=request.auth if isinstance(request.auth, ApiToken) else None,
            idempotency_key=request.headers.get("Idempotency-Key"))
        case = selectors.api_case_details(request.user).get(pk=result.case.pk)
        rejected = [r.as_dict() for r in result.rejected]
        body = CaseCreatedSerializer(case, context={"request": request, "rejected": rejected}).data
        headers = {"Location": request.build_absolute_uri(reverse("api:case-detail", args=[case.pk]))}
        if result.replayed:
            headers["Idempotent-Replayed"] = "true"
            return Response(body, status=status.HTTP_200_OK, headers=headers)
        return Response(body, status=status.HTTP_201_CREATED, headers=headers)

    def _team(self, team_id: int | None) -> Any:
        teams = selectors.user_teams(self.request.user)
        if team_id is not None:
            team = teams.filter(pk=team_id).first()
            if team is None:
                raise exceptions.ValidationError({"team": ["You are not a member of a team with this id."]})
            return team
        found = list(teams[:2])
        if not found:
            raise VerityError("You are not in any team yet; ask an admin to add you to one.")
        if len(found) > 1:
            raise exceptions.ValidationError({"team": ["You are in several teams: say which one."]})
        return found[0]

    @extend_schema(
        summary="Change a case's notes and tags", tags=["cases"],
        description="JSON body. `tags` replaces all tags; `add_tags` and `remove_tags` edit them. Tags are "
                    "lower-cased. The change is written to the case's audit history. Scope: submit.",
        request=CaseUpdateSerializer, responses={200: CaseDetailSerializer, **errors(415)},
        examples=[OpenApiExample("Add a tag", value={"add_tags": ["election"], "notes": "Checked with the agency."},
                                 request_only=True),
                  OpenApiExample("Updated", value={**CASE_EXAMPLE, "tags": ["election", "flood", "reader"],
                                                   "images": [IMAGE_EXAMPLE]}, response_only=True)],
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        case = self.get_object()
        form = CaseUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        services.case_update(user=request.user, case=case, notes=data.get("notes"), tags=data.get("tags"),
                    add_tags=data.get("add_tags", ()), remove_tags=data.get("remove_tags", ()))
        fresh = selectors.api_case_details(request.user).get(pk=case.pk)
        return Response(CaseDetailSerializer(fresh, context={"request": request}).data)

    @extend_schema(
        summary="The audit history of a case", tags=["cases"], responses=AuditEventSerializer(many=True),
        description="Every recorded action on the case, newest first. Scope: read.",
        examples=[OpenApiExample("Events", value={
            "id": 90, "created_at": "2026-11-25T09:30:00Z", "action": "case.submitted", "actor": "alice",
            "object_type": "case", "object_id": "7", "details": {"images": [{"id": 12, "name": "flood.jpg"}]}},
            response_only=True)],
    )
    @action(detail=True, methods=["get"], url_path="events")
    def events(self, request: Request, pk: str | None = None, format: str | None = None) -> Response:
        case = self.get_object()
        page = self.paginate_queryset(selectors.case_audit(case))
        return self.get_paginated_response(AuditEventSerializer(page, many=True).data)


# --- Images ------------------------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(summary="List images", tags=["images"], parameters=[ImageFilterSerializer],
                       description="Images of your teams' cases, each with its latest analysis. Scope: read.",
                       examples=[OpenApiExample("Images", value=IMAGE_EXAMPLE, response_only=True)]),
    retrieve=extend_schema(summary="Get an image", tags=["images"], description="Scope: read.",
                           examples=[OpenApiExample("An image", value=IMAGE_EXAMPLE, response_only=True)]),
)
class ImageViewSet(FileActionsMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ImageSerializer
    file_actions = ("file",)

    def get_queryset(self) -> Any:
        params = query_params(ImageFilterSerializer, self.request) if self.action == "list" else {}
        return selectors.api_images(self.request.user, params)

    @extend_schema(
        summary="Download the original image", tags=["images"],
        description="The bytes as uploaded, with their image content type. Scope: read.",
        responses={(200, media): OpenApiResponse(OpenApiTypes.BINARY, description="The image.")
                   for media in sorted(set(MEDIA_TYPES.values()))},
    )
    @action(detail=True, methods=["get"], url_path="file")
    def file(self, request: Request, pk: str | None = None, format: str | None = None) -> HttpResponse:
        image: CaseImage = self.get_object()
        return serving.stored_image(image.file, image.format, image.original_name)


# --- Analyses --------------------------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(summary="List analyses", tags=["analyses"], parameters=[AnalysisFilterSerializer],
                       description="Analyses of your teams' images. Scope: read.",
                       examples=[OpenApiExample("Analyses", value=ANALYSIS_EXAMPLE, response_only=True)]),
    retrieve=extend_schema(
        summary="Get an analysis result", tags=["analyses"],
        description="Label, calibrated probability of AI generation, the uncertain band around the threshold, "
                    "the model version and timings. Poll until `status` is done or failed (or use a webhook). "
                    "Scope: read.",
        examples=[OpenApiExample("Done", value=ANALYSIS_EXAMPLE, response_only=True)]),
)
class AnalysisViewSet(FileActionsMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = AnalysisSerializer
    file_actions = ("heatmap", "overlay")

    def get_queryset(self) -> Any:
        params = query_params(AnalysisFilterSerializer, self.request) if self.action == "list" else {}
        return selectors.api_analyses(self.request.user, params)

    def _artefact(self, name_attr: str) -> HttpResponse:
        analysis: Analysis = self.get_object()
        if not analysis.heatmap:
            raise ResultNotReady(f"The analysis is {analysis.status}; the {name_attr} exists once it is done.",
                                 details={"status": analysis.status})
        try:  # the overlay is drawn on its first request (services.analysis_overlay)
            name = services.analysis_overlay(analysis) if name_attr == "overlay" else analysis.heatmap
        except FileNotFoundError:
            raise exceptions.NotFound("The file is missing from storage.") from None
        return serving.stored_file(name, "image/png")

    @extend_schema(summary="Download the Grad-CAM heatmap (PNG)", tags=["analyses"],
                   description="Where the model looked. 409 until the analysis is done. Scope: read.",
                   responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY), **errors(409)})
    @action(detail=True, methods=["get"], url_path="heatmap")
    def heatmap(self, request: Request, pk: str | None = None, format: str | None = None) -> HttpResponse:
        return self._artefact("heatmap")

    @extend_schema(summary="Download the heatmap drawn over the image (PNG)", tags=["analyses"],
                   description="The heatmap blended onto the region the model saw, drawn on the first request "
                               "and kept. 409 until the analysis is done. Scope: read.",
                   responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY), **errors(409)})
    @action(detail=True, methods=["get"], url_path="overlay")
    def overlay(self, request: Request, pk: str | None = None, format: str | None = None) -> HttpResponse:
        return self._artefact("overlay")


# --- Model versions ---------------------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(summary="List model versions", tags=["models"], description="Scope: read.",
                       examples=[OpenApiExample("Versions", value=MODEL_EXAMPLE, response_only=True)]),
    retrieve=extend_schema(summary="Get a model version", tags=["models"], description="Scope: read.",
                           examples=[OpenApiExample("A version", value=MODEL_EXAMPLE, response_only=True)]),
)
class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ModelVersionSerializer

    def get_queryset(self) -> Any:
        # Model versions are not team data: every signed-in user may see which model judged.
        return selectors.model_versions().order_by("-created_at", "-id")

    @extend_schema(summary="The active model version", tags=["models"],
                   description="The model that analyses new images; 503 (no_active_model) when none is. "
                               "Scope: read.",
                   examples=[OpenApiExample("Active", value=MODEL_EXAMPLE, response_only=True)])
    @action(detail=False, methods=["get"], url_path="active", pagination_class=None)
    def active(self, request: Request, format: str | None = None) -> Response:
        version = selectors.active_model()
        if version is None:
            raise NoActiveModel()
        return Response(ModelVersionSerializer(version).data)


    @extend_schema(summary="Promote a model version (or roll back to an older one)", tags=["models"],
                   request=PromoteSerializer, responses={200: ModelVersionSerializer, **errors(403, 404)},
                   description="Makes this version the active one; new analyses use it. The note is "
                               "required and kept in the audit history. Admins only. Scope: submit.",
                   examples=[OpenApiExample("Promote", value={"note": "Better test accuracy on the 2026-11 set."},
                                            request_only=True),
                             OpenApiExample("Promoted", value={**MODEL_EXAMPLE, "is_active": True}, response_only=True)])
    @action(detail=True, methods=["post"], url_path="promote", permission_classes=[IsVerityAdmin],
            parser_classes=[JSONParser, FormParser, MultiPartParser])
    def promote(self, request: Request, pk: str | None = None, format: str | None = None) -> Response:
        version = self.get_object()
        data = PromoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.model_version_promote(actor=request.user, version=version, note=data.validated_data["note"])
        version.refresh_from_db()
        return Response(ModelVersionSerializer(version).data)


# --- Dashboard metrics ------------------------------------------------------------------------------------

class MetricsView(APIView):
    @extend_schema(
        summary="Dashboard metrics", tags=["metrics"], responses=MetricsSerializer,
        description="Counts over your teams' cases and the active model with its evaluation metrics. Scope: read.",
        examples=[OpenApiExample("Metrics", value={
            "cases": 12, "images": 30, "analyses": {"queued": 1, "running": 1, "done": 27, "failed": 1},
            "verdicts": {"real": 17, "ai_generated": 10}, "uncertain": 3, "active_model": MODEL_EXAMPLE},
            response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return Response(MetricsSerializer(selectors.api_metrics(request.user)).data)



# --- Who am I ----------------------------------------------------------------------------------------

class MeView(APIView):
    @extend_schema(
        summary="The caller: user, teams and the token's scopes", tags=["account"], responses=MeSerializer,
        description="Handy to check a token before using it. Scope: read.",
        examples=[OpenApiExample("Me", value={
            "username": "alice", "is_staff": False, "teams": [{"id": 1, "name": "Metro desk"}],
            "token": {"name": "CMS bot", "prefix": "1a2b3c4d", "scopes": ["read", "submit"], "webhook_url": "",
                      "created_at": "2026-11-20T12:00:00Z", "last_used_at": "2026-11-25T09:30:00Z"}},
            response_only=True)],
    )
    def get(self, request: Request) -> Response:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return Response(MeSerializer({
            "username": request.user.get_username(), "is_staff": request.user.is_staff,
            "teams": selectors.user_teams(request.user).order_by("name"), "token": token}).data)


# --- Model lifecycle: datasets and training runs (admins only) ------------------------------------------

DATASET_EXAMPLE = {
    "id": 3, "name": "demo-2026-11", "origin": "path", "path": "/data/demo", "team": 1, "status": "ready",
    "scan": {"files_seen": 600, "files_total": 600, "progress": 1.0, "attempts": 1, "error": "",
             "finished_at": "2026-11-25T10:00:40Z"},
    "fingerprint": "9f2c" + "0" * 60,
    "analysis": {"total": 600, "by_class": {"real": 300, "ai_generated": 300},
                 "by_split": {"train": 420, "val": 90, "test": 90}, "by_source": {"(none)": 600},
                 "by_generator": {"(none)": 600}, "sizes": [{"label": "<256 px", "count": 600}],
                 "decoded": 600, "undecodable": 0, "duplicate_groups": 0, "cross_split_duplicate_groups": 0,
                 "label_conflict_groups": 0},
    "created_at": "2026-11-25T10:00:00Z"}
DATASET_PENDING_EXAMPLE = {
    **DATASET_EXAMPLE, "status": "pending", "fingerprint": "", "analysis": {},
    "scan": {"files_seen": 0, "files_total": 0, "progress": None, "attempts": 0, "error": "", "finished_at": None}}
RUN_EXAMPLE = {
    "id": 7, "dataset": 3, "dataset_name": "demo-2026-11", "base_model": 1,
    "hyperparameters": {"epochs": 3, "batch_size": 32, "lr": 0.001, "input_size": 224, "train_crop": 224, "seed": 0},
    "status": "running", "cancel_requested": False, "epoch": 1, "epochs": 3, "step": 14, "total_steps": 42,
    "train_loss": 0.61, "val_accuracy": 0.74, "eta_s": 95.0, "error": "", "model_version": None,
    "created_at": "2026-11-25T10:01:00Z", "started_at": "2026-11-25T10:01:02Z", "finished_at": None,
    "updated_at": "2026-11-25T10:02:10Z"}


def _admin_reads(*, example: dict[str, Any], list_summary: str, list_example: str, retrieve_summary: str,
                 retrieve_example: str, retrieve_note: str = "") -> Any:
    """The schema of an admin-only viewset's list and retrieve (tag "training"), both shown with ``example``."""
    admins_only = "Admins only. Scope: read."
    return extend_schema_view(
        list=extend_schema(summary=list_summary, tags=["training"], description=admins_only,
                           examples=[OpenApiExample(list_example, value=example, response_only=True)]),
        retrieve=extend_schema(summary=retrieve_summary, tags=["training"], description=retrieve_note + admins_only,
                               examples=[OpenApiExample(retrieve_example, value=example, response_only=True)]))


def _accepted(request: Request, dataset: Any) -> Response:
    """202: registered, scanned by a task; Location is the resource to poll for status and progress."""
    location = request.build_absolute_uri(reverse("api:dataset-detail", args=[dataset.pk]))
    return Response(DatasetSerializer(dataset).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


SCANNED_LATER = ("Answers 202 at once with `status` \"pending\" and a Location header: a task on the training "
                 "queue then reads every image; poll the Location (`status`, `scan.files_seen` of "
                 "`scan.files_total`) until `status` is \"ready\" (counts and fingerprint filled in) or "
                 "\"failed\" (`scan.error` says why). Only a ready dataset can be trained on. ")


@_admin_reads(example=DATASET_EXAMPLE, list_summary="List registered datasets", list_example="Datasets",
              retrieve_summary="Get a dataset with its scan's status and progress, and its counts",
              retrieve_example="A dataset", retrieve_note="Poll this while it is scanned. ")
class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsVerityAdmin]
    serializer_class = DatasetSerializer
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_queryset(self) -> Any:
        # Another team's dataset is a 404, here and for rescan.
        return selectors.datasets_for(self.request.user).order_by("-created_at", "-id")

    @extend_schema(summary="Register a dataset by its path on the server or by uploading a zip", tags=["training"],
                   request={"application/json": DatasetCreateSerializer,
                            "multipart/form-data": DatasetUploadSerializer},
                   responses={202: DatasetSerializer, **errors(400, 403, 413)},
                   description="JSON with `name` and `path` registers a folder or manifest on the server (under "
                               "VERITY_DATASET_ROOTS); multipart/form-data with `name` and an `archive` zip stores "
                               "it for the scan to unpack into a folder Verity owns (up to "
                               "VERITY_MAX_DATASET_ZIP_BYTES; a zip that is hostile, not a zip or empty is a 400 and "
                               "leaves nothing behind). " + SCANNED_LATER + "The dataset belongs to `team`, one "
                               "you administer (optional when you administer exactly one). Datasets are not edited: a new version is a new name. "
                               "Admins only. Scope: submit.",
                   examples=[OpenApiExample("Register", value={"name": "demo-2026-11", "path": "/data/demo"},
                                            request_only=True),
                             OpenApiExample("Registered", value=DATASET_PENDING_EXAMPLE, response_only=True,
                                            status_codes=["202"])])
    def create(self, request: Request, format: str | None = None) -> Response:
        if "archive" in request.data:
            upload = DatasetUploadSerializer(data=request.data, context={"request": request})
            upload.is_valid(raise_exception=True)
            dataset = services.dataset_register_archive(actor=request.user, **upload.validated_data)
        else:
            data = DatasetCreateSerializer(data=request.data, context={"request": request})
            data.is_valid(raise_exception=True)
            dataset = services.dataset_register(actor=request.user, **data.validated_data)
        return _accepted(request, dataset)

    @extend_schema(summary="Build a dataset from reviewed cases", tags=["training"],
                   request=DatasetFromReviewsSerializer, responses={202: DatasetSerializer, **errors(400, 403, 409)},
                   description="Images in finalised cases of the dataset's team only (another team you "
                               "administer is left out: the dataset is seen by this team's admins) "
                               "whose latest review says real or AI-generated, labelled so, copied into a folder "
                               "Verity owns with a manifest. Copies of one image count once; images whose copies "
                               "were given different verdicts are left out (`analysis.reviewed` says how many). "
                               "`mix_with` adds a registered, ready dataset's samples (409 when it is not ready). "
                               "`team`: the team it belongs to, as for registering. "
                               "400 when the result has fewer than 2 images of either class. " + SCANNED_LATER
                               + "Admins only. Scope: submit.",
                   examples=[OpenApiExample("Build", value={"name": "reviewed-2026-12", "mix_with": 3},
                                            request_only=True),
                             OpenApiExample("Built", response_only=True, status_codes=["202"], value={
                                 **DATASET_PENDING_EXAMPLE, "name": "reviewed-2026-12", "origin": "reviews",
                                 "path": "/var/verity/datasets/reviews-reviewed-2026-12-1f0c9a7d2b3e"})])
    @action(detail=False, methods=["post"], url_path="from-reviews", parser_classes=[JSONParser])
    def from_reviews(self, request: Request, format: str | None = None) -> Response:
        data = DatasetFromReviewsSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        mix_with = None
        if data.validated_data.get("mix_with"):
            mix_with = self.get_queryset().filter(pk=data.validated_data["mix_with"]).first()
            if mix_with is None:
                raise VerityError("No such dataset.", details={"mix_with": ["No such dataset."]})
        dataset = services.dataset_build_from_reviews(actor=request.user, name=data.validated_data["name"],
                                                      mix_with=mix_with, team=data.validated_data.get("team"))
        return _accepted(request, dataset)

    @extend_schema(summary="Scan a dataset again", tags=["training"], request=None,
                   responses={202: DatasetSerializer, **errors(403, 404, 409)},
                   description="Reads every image of a ready or failed dataset again (after its files were fixed, "
                               "or a scan failed); the counts and fingerprint are replaced, never added to. "
                               "409 while a scan is pending or running. " + SCANNED_LATER
                               + "Admins of the dataset's team only. Scope: submit.",
                   examples=[OpenApiExample("Rescanning", value=DATASET_PENDING_EXAMPLE, response_only=True,
                                            status_codes=["202"])])
    @action(detail=True, methods=["post"], url_path="rescan")
    def rescan(self, request: Request, pk: str | None = None, format: str | None = None) -> Response:
        dataset = services.dataset_rescan(actor=request.user, dataset=self.get_object())
        return _accepted(request, dataset)


@_admin_reads(example=RUN_EXAMPLE, list_summary="List training runs", list_example="Runs",
              retrieve_summary="Get a training run with its progress", retrieve_example="A run",
              retrieve_note="Poll this while it runs. ")
class TrainingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsVerityAdmin]
    serializer_class = TrainingRunSerializer
    parser_classes = [JSONParser]

    def get_queryset(self) -> Any:
        # A run on another team's dataset is a 404, as the dataset is.
        return selectors.training_runs_for(self.request.user)

    @extend_schema(summary="Start a training run", tags=["training"], request=TrainingRunCreateSerializer,
                   responses={201: TrainingRunSerializer, **errors(400, 403, 409)},
                   description="Queues training on the training queue. 409 when the dataset's scan is not ready "
                               "(still pending or scanning, or failed). Missing hyperparameters take their "
                               "defaults. The resulting model version is registered, not activated. "
                               "Admins only. Scope: submit.",
                   examples=[OpenApiExample("Start", value={"dataset": 3, "hyperparameters": {"epochs": 3}},
                                            request_only=True),
                             OpenApiExample("Queued", value={**RUN_EXAMPLE, "status": "queued", "epoch": 0,
                                                             "step": 0, "started_at": None}, response_only=True)])
    def create(self, request: Request, format: str | None = None) -> Response:
        data = TrainingRunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        dataset = selectors.datasets_for(request.user).filter(pk=values["dataset"]).first()
        if dataset is None:
            raise VerityError("No such dataset.", details={"dataset": ["No such dataset."]})
        base = None
        if values.get("base_model"):
            base = selectors.model_versions().filter(pk=values["base_model"]).first()
            if base is None:
                raise VerityError("No such model version.", details={"base_model": ["No such model version."]})
        run = services.training_run_start(actor=request.user, dataset=dataset, base_model=base,
                                          hyperparameters=dict(values.get("hyperparameters") or {}))
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Cancel a training run", tags=["training"], request=None,
                   responses={200: TrainingRunSerializer, **errors(403, 404, 409)},
                   description="A queued run is cancelled at once; a running one stops within seconds. "
                               "409 when the run has already finished. Admins only. Scope: submit.",
                   examples=[OpenApiExample("Cancelling", value={**RUN_EXAMPLE, "cancel_requested": True},
                                            response_only=True)])
    @action(detail=True, methods=["post"], url_path="cancel")
    def cancel(self, request: Request, pk: str | None = None, format: str | None = None) -> Response:
        run = services.training_run_cancel(actor=request.user, run=self.get_object())
        return Response(TrainingRunSerializer(self.get_queryset().get(pk=run.pk)).data)
