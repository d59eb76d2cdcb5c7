"""Model evaluations through the API (admins only): list them, and ask for one or two versions to
be evaluated on the same data. Writes go through ``services.evaluation_request``.

An evaluation on the reviewed cases spans every team's images, so it carries counts and metrics
only: the images it scored are never listed."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from .. import selectors, services
from ..errors import VerityError
from ..models import EvaluationSource, ModelEvaluation
from .permissions import IsVerityAdmin
from .schema import errors
from .serializers import IdField

EVALUATION_EXAMPLE = {
    "id": 12, "model_version": 4, "model_version_name": "demo-2026-11-run7", "source": "reviewed_cases",
    "dataset": None, "dataset_name": None, "data_fingerprint": "3b1d" + "0" * 60, "status": "done",
    "n_images": 240, "metrics": {"n": 240, "threshold": 0.5, "accuracy": 0.81, "precision": 0.79, "recall": 0.84,
                                 "f1": 0.81, "roc_auc": 0.88, "average_precision": 0.86, "ece": 0.06,
                                 "confusion_matrix": [[95, 25], [20, 100]], "skipped": 0},
    "baseline_accuracy": 0.92, "drift": True, "scheduled": True, "error": "", "requested_by": None,
    "created_at": "2026-11-26T03:00:00Z", "started_at": "2026-11-26T03:00:01Z",
    "finished_at": "2026-11-26T03:01:10Z"}


class EvaluationSerializer(serializers.ModelSerializer):
    model_version_name = serializers.CharField(source="model_version.name", read_only=True)
    dataset_name = serializers.CharField(source="dataset.name", read_only=True, allow_null=True, default=None)
    requested_by = serializers.CharField(source="requested_by.get_username", read_only=True, allow_null=True,
                                         default=None)
    metrics = serializers.JSONField(read_only=True, help_text=(
        "ml.metrics.binary_metrics: n, threshold, accuracy, precision, recall, f1, roc_auc, average_precision, "
        "ece, confusion_matrix (rows: true real, AI; columns: predicted real, AI). {} until done."))

    class Meta:
        model = ModelEvaluation
        fields = ["id", "model_version", "model_version_name", "source", "dataset", "dataset_name",
                  "data_fingerprint", "status", "n_images", "metrics", "baseline_accuracy", "drift", "scheduled",
                  "error", "requested_by", "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class EvaluationCreateSerializer(serializers.Serializer):
    versions = serializers.ListField(child=IdField(), min_length=1, max_length=2,
                                     help_text="Ids of one or two model versions, evaluated on the same data.")
    # A declared field named like Field.source: the serializer metaclass takes it out of the class.
    source = serializers.ChoiceField(choices=EvaluationSource.choices)  # type: ignore[assignment]
    dataset = IdField(required=False, allow_null=True, help_text="Id of a registered dataset (source=dataset).")


class EvaluationFilterSerializer(serializers.Serializer):
    model_version = IdField(required=False)


@extend_schema_view(
    list=extend_schema(summary="List model evaluations", tags=["training"], parameters=[EvaluationFilterSerializer],
                       description="Newest first. Admins only. Scope: read.",
                       examples=[OpenApiExample("Evaluations", value=EVALUATION_EXAMPLE, response_only=True)]),
    retrieve=extend_schema(summary="Get a model evaluation", tags=["training"],
                           description="Poll this while it is queued or running. Admins only. Scope: read.",
                           examples=[OpenApiExample("An evaluation", value=EVALUATION_EXAMPLE, response_only=True)]),
)
class EvaluationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsVerityAdmin]
    serializer_class = EvaluationSerializer
    parser_classes = [JSONParser]

    def get_queryset(self) -> Any:
        qs = selectors.evaluations_for(self.request.user)  # none on another team's dataset
        if self.action == "list":
            params = EvaluationFilterSerializer(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            if params.validated_data.get("model_version"):
                qs = qs.filter(model_version_id=params.validated_data["model_version"])
        return qs

    @extend_schema(summary="Evaluate one or two model versions on the same data", tags=["training"],
                   request=EvaluationCreateSerializer, responses={201: EvaluationSerializer(many=True),
                                                                  **errors(400, 403)},
                   description="Queues one evaluation per version on the training queue, on a dataset's test "
                               "split or on the reviewed images of finalised cases, fixed now so that both "
                               "versions score the same images. Admins only. Scope: submit.",
                   examples=[OpenApiExample("On a dataset", value={"versions": [4, 5], "source": "dataset",
                                                                   "dataset": 3}, request_only=True),
                             OpenApiExample("Queued", response_only=True, value=[{
                                 **EVALUATION_EXAMPLE, "source": "dataset", "dataset": 3,
                                 "dataset_name": "demo-2026-11", "status": "queued", "n_images": 0, "metrics": {},
                                 "baseline_accuracy": None, "drift": None, "scheduled": False,
                                 "requested_by": "ana", "started_at": None, "finished_at": None}])])
    def create(self, request: Request, format: str | None = None) -> Response:
        data = EvaluationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        found = selectors.model_versions().in_bulk(values["versions"])
        if len(found) != len(set(values["versions"])):
            raise VerityError("No such model version.", details={"versions": ["No such model version."]})
        versions = [found[pk] for pk in values["versions"]]
        dataset = None
        if values.get("dataset"):
            # Another team's dataset is answered as one that does not exist: ids cannot be probed.
            dataset = selectors.datasets_for(request.user).filter(pk=values["dataset"]).first()
            if dataset is None:
                raise VerityError("No such dataset.", details={"dataset": ["No such dataset."]})
        created = services.evaluation_request(actor=request.user, versions=versions, source=values["source"],
                                              dataset=dataset)
        return Response(EvaluationSerializer(created, many=True).data, status=status.HTTP_201_CREATED)
