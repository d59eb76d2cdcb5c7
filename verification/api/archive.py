"""The archive memory and re-share stability through the API.

- Every image carries ``seen_before`` (its near-duplicates in the team's earlier cases, with that
  case's final verdict) and ``reshare_stability`` (its latest stability check); see ImageSerializer.
- ``/api/v1/stability-checks/``: ask for a check of one image or of every image of a case, and
  read the outcome. Writes go through services (the same rules and audit events as the portal)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from .. import selectors, services
from ..models import ArchiveMatch, CaseStatus, StabilityCheck
from .permissions import HasTokenScope
from .schema import errors

MATCH_EXAMPLE = {"image": 31, "case": 12, "case_title": "Flooded station", "distance": 14, "variant": "original",
                 "review_state": "finalised", "case_status": "finalised", "final_verdict": "ai_generated",
                 "finalised_by": "lead", "finalised_at": "2026-11-20T09:00:00Z"}
STABILITY_EXAMPLE = {"id": 5, "image": 40, "case": 13, "status": "done", "model_version": 2, "label": "ai_generated",
                     "probability_ai": 0.91, "n_stable": 7, "n_total": 8, "flipped": ["resize_640"],
                     "reshares": [{"transform": "resize_640", "description": "long side 640 px, JPEG 85",
                                  "label": "real", "probability_ai": 0.42, "flipped": True}],
                     "cost_ms": 1830.0, "error": None, "created_at": "2026-11-26T10:00:00Z",
                     "finished_at": "2026-11-26T10:00:03Z"}


class ArchiveMatchSerializer(serializers.ModelSerializer):
    """A near-duplicate of this image in an earlier case of the same team."""

    image = serializers.IntegerField(source="matched_id", read_only=True, help_text="The earlier image.")
    case = serializers.IntegerField(source="matched.case_id", read_only=True)
    case_title = serializers.CharField(source="matched.case.title", read_only=True)
    review_state = serializers.ChoiceField(source="matched.case.status", choices=CaseStatus.choices, read_only=True,
                                           help_text="The earlier case's review state: open or finalised.")
    case_status = serializers.ChoiceField(source="matched.case.status", choices=CaseStatus.choices, read_only=True,
                                          help_text="Deprecated since 1.1: the old name of review_state; removed in "
                                                    "2.0.")
    final_verdict = serializers.SerializerMethodField()
    finalised_by = serializers.SerializerMethodField()
    finalised_at = serializers.DateTimeField(source="matched.case.finalised_at", read_only=True, allow_null=True)

    class Meta:
        model = ArchiveMatch
        fields = ["image", "case", "case_title", "distance", "variant", "review_state", "case_status", "final_verdict",
                  "finalised_by", "finalised_at"]
        read_only_fields = fields

    def get_final_verdict(self, obj: ArchiveMatch) -> str | None:
        return obj.matched.case.final_verdict or None

    def get_finalised_by(self, obj: ArchiveMatch) -> str | None:
        user = obj.matched.case.finalised_by
        return user.get_username() if user else None


class ReshareResultSerializer(serializers.Serializer):
    transform = serializers.CharField()
    description = serializers.CharField()
    # A declared field named like Field.label: the serializer metaclass takes it out of the class.
    label = serializers.CharField()  # type: ignore[assignment]
    probability_ai = serializers.FloatField()
    flipped = serializers.BooleanField(help_text="The verdict on this re-share differs from the verdict on the image.")


class StabilityCheckSerializer(serializers.ModelSerializer):
    case = serializers.IntegerField(source="image.case_id", read_only=True)
    flipped = serializers.ListField(child=serializers.CharField(), read_only=True,
                                    help_text="The re-shares whose verdict differs.")
    reshares = ReshareResultSerializer(source="results", many=True, read_only=True,
                                       help_text="The verdict on each re-shared copy.")
    error = serializers.SerializerMethodField()

    class Meta:
        model = StabilityCheck
        fields = ["id", "image", "case", "status", "model_version", "label", "probability_ai", "n_stable", "n_total",
                  "flipped", "reshares", "cost_ms", "error", "created_at", "finished_at"]
        read_only_fields = fields

    def get_error(self, obj: StabilityCheck) -> str | None:
        return obj.error or None


class StabilityCreateSerializer(serializers.Serializer):
    image = serializers.IntegerField(required=False, min_value=1, help_text="Check this image.")
    case = serializers.IntegerField(required=False, min_value=1, help_text="Or check every image of this case.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("image" in attrs) == ("case" in attrs):
            raise serializers.ValidationError("Send either image or case.")
        return attrs


class StabilityFilterSerializer(serializers.Serializer):
    image = serializers.IntegerField(required=False, min_value=1)
    case = serializers.IntegerField(required=False, min_value=1)


@extend_schema_view(
    list=extend_schema(summary="List re-share stability checks", tags=["images"],
                       parameters=[StabilityFilterSerializer],
                       description="Checks of your teams' images, newest first. Scope: read.",
                       examples=[OpenApiExample("Checks", value=STABILITY_EXAMPLE, response_only=True)]),
    retrieve=extend_schema(summary="Get a re-share stability check", tags=["images"], description="Scope: read.",
                           examples=[OpenApiExample("A check", value=STABILITY_EXAMPLE, response_only=True)]),
    create=extend_schema(
        summary="Re-judge an image (or every image of a case) under the re-share set", tags=["images"],
        request=StabilityCreateSerializer, responses={202: StabilityCheckSerializer(many=True), **errors(400, 404)},
        description="Queues a check per image on the inference queue: the active model judges the image and eight "
                    "re-shared copies of it (resized to 1080 and 640 px, JPEG 85 and 70, a 5 % crop, a phone "
                    "screenshot, mirrored, rotated 90°). Poll the returned checks for `n_stable` of `n_total` and "
                    "`flipped`. A check already queued or running for an image is returned, not repeated. "
                    "Scope: submit.",
        examples=[OpenApiExample("One image", value={"image": 40}, request_only=True),
                  OpenApiExample("A whole case", value={"case": 13}, request_only=True),
                  OpenApiExample("Queued", value=[{**STABILITY_EXAMPLE, "status": "queued", "label": "",
                                                   "probability_ai": None, "n_stable": None, "n_total": None,
                                                   "flipped": [], "reshares": [], "cost_ms": None,
                                                   "finished_at": None}],
                                 response_only=True, status_codes=["202"])]),
)
class StabilityCheckViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    permission_classes = [HasTokenScope]
    serializer_class = StabilityCheckSerializer

    def get_queryset(self) -> Any:
        qs = selectors.stability_checks_for(self.request.user)
        if self.action == "list":
            params = StabilityFilterSerializer(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            if "image" in params.validated_data:
                qs = qs.filter(image_id=params.validated_data["image"])
            if "case" in params.validated_data:
                qs = qs.filter(image__case_id=params.validated_data["case"])
        return qs.order_by("-created_at", "-id")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = StabilityCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "image" in data.validated_data:
            image = selectors.images_for(request.user).select_related("case__team").filter(
                pk=data.validated_data["image"]).first()
            if image is None:
                raise exceptions.NotFound("No such image.")
            checks = [services.stability_request(user=request.user, image=image)]
        else:
            case = selectors.cases_for(request.user).filter(pk=data.validated_data["case"]).first()
            if case is None:
                raise exceptions.NotFound("No such case.")
            checks = services.stability_request_case(user=request.user, case=case)
        return Response(StabilityCheckSerializer(checks, many=True).data, status=status.HTTP_202_ACCEPTED)
