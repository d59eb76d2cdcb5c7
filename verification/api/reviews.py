"""Reviews through the API: a person's confirm-or-override decision on one image.

Writes go through ``services.review_record`` (the same rules and audit event as the portal:
a comment is required to override the model; a finalised case takes no new reviews)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from .. import selectors, services
from ..models import HumanVerdict, Review
from .permissions import HasTokenScope
from .schema import errors
from .serializers import IdField, query_params

REVIEW_EXAMPLE = {"id": 7, "case": 12, "image": 31, "analysis": 40, "reviewer": "ana", "verdict": "real",
                  "is_override": True, "comment": "Original found on the photographer's site.",
                  "created_at": "2026-11-25T10:05:00Z"}


class ReviewSerializer(serializers.ModelSerializer):
    case = serializers.IntegerField(source="image.case_id", read_only=True)
    reviewer = serializers.CharField(source="reviewer.get_username", read_only=True)

    class Meta:
        model = Review
        fields = ["id", "case", "image", "analysis", "reviewer", "verdict", "is_override", "comment", "created_at"]
        read_only_fields = fields


class ReviewCreateSerializer(serializers.Serializer):
    image = IdField(help_text="The image decided on.")
    verdict = serializers.ChoiceField(choices=HumanVerdict.choices)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="",
                                    help_text="Required when the verdict differs from the model's.")


class ReviewFilterSerializer(serializers.Serializer):
    case = IdField(required=False)
    image = IdField(required=False)


@extend_schema_view(
    list=extend_schema(summary="List reviews", tags=["reviews"], parameters=[ReviewFilterSerializer],
                       description="People's decisions on your teams' images, newest first. Scope: read.",
                       examples=[OpenApiExample("Reviews", value=REVIEW_EXAMPLE, response_only=True)]),
    retrieve=extend_schema(summary="Get a review", tags=["reviews"], description="Scope: read.",
                           examples=[OpenApiExample("A review", value=REVIEW_EXAMPLE, response_only=True)]),
    create=extend_schema(
        summary="Confirm or override the model on an image", tags=["reviews"], request=ReviewCreateSerializer,
        responses={201: ReviewSerializer, **errors(400, 404)},
        description="Records a reviewer decision (real, ai_generated or inconclusive). A verdict other than "
                    "the model's is an override and needs a comment. Scope: submit.",
        examples=[OpenApiExample("Override", value={"image": 31, "verdict": "real",
                                                    "comment": "Original found on the photographer's site."},
                                 request_only=True),
                  OpenApiExample("Created", value=REVIEW_EXAMPLE, response_only=True)]),
)
class ReviewViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    permission_classes = [HasTokenScope]
    serializer_class = ReviewSerializer

    def get_queryset(self) -> Any:
        params = query_params(ReviewFilterSerializer, self.request) if self.action == "list" else {}
        return selectors.api_reviews(self.request.user, params)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ReviewCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        image = selectors.images_for(request.user).select_related("case__team").filter(
            pk=data.validated_data["image"]).first()
        if image is None:
            raise exceptions.NotFound("No such image.")
        review = services.review_record(user=request.user, image=image, verdict=data.validated_data["verdict"],
                                        comment=data.validated_data["comment"])
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)
