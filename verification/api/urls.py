"""/api/v1/: the versioned API, its OpenAPI schema and the documentation pages (served locally)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from . import views
from .archive import StabilityCheckViewSet
from .docs_views import LocalRedocView, LocalSwaggerView
from .evaluations import EvaluationViewSet
from .reviews import ReviewViewSet
from .errors import api_not_found

app_name = "api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("cases", views.CaseViewSet, basename="case")
router.register("images", views.ImageViewSet, basename="image")
router.register("analyses", views.AnalysisViewSet, basename="analysis")
router.register("model-versions", views.ModelVersionViewSet, basename="model-version")
router.register("reviews", ReviewViewSet, basename="review")
router.register("datasets", views.DatasetViewSet, basename="dataset")
router.register("training-runs", views.TrainingRunViewSet, basename="training-run")
router.register("evaluations", EvaluationViewSet, basename="evaluation")
router.register("stability-checks", StabilityCheckViewSet, basename="stability-check")

urlpatterns = [
    *router.urls,
    path("metrics/", views.MetricsView.as_view(), name="metrics"),
    path("me/", views.MeView.as_view(), name="me"),
    path("schema/", SpectacularAPIView.as_view(api_version="v1", permission_classes=[], authentication_classes=[]),
         name="schema"),
    path("schema/swagger/", LocalSwaggerView.as_view(url_name="api:schema", permission_classes=[],
                                                     authentication_classes=[]), name="swagger"),
    path("schema/redoc/", LocalRedocView.as_view(url_name="api:schema", permission_classes=[],
                                                 authentication_classes=[]), name="redoc"),
    re_path(r"^.*$", api_not_found),
]
