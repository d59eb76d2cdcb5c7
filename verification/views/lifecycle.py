"""Admins' model lifecycle pages: datasets, training runs (start, watch, cancel) and comparing
two model versions before promoting one. Every change goes through verification.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import selectors, services
from ..errors import VerityError
from ..forms import DatasetFromReviewsForm, DatasetRegisterForm, DatasetUploadForm, EvaluationRequestForm, TrainingStartForm
from ..models import Dataset, TrainingRun
from ._common import admin_required, attempt

# (label, metric key, shown as: True a percentage, False a number, None a count)
COMPARED_METRICS = [("Accuracy", "accuracy", True), ("Precision", "precision", False), ("Recall", "recall", False),
                    ("F1", "f1", False), ("ROC-AUC", "roc_auc", False), ("Images", "n", None)]

def _run_or_404(request: HttpRequest, run_id: int) -> TrainingRun:
    run = selectors.training_runs_for(request.user).filter(pk=run_id).first()
    if run is None:
        raise Http404("No such training run.")
    return run


# The Datasets page's three ways in; a POST names its form in ``intake`` (a path when it does not).
DATASET_FORMS: dict[str, type[forms.Form]] = {
    "path": DatasetRegisterForm, "archive": DatasetUploadForm, "reviews": DatasetFromReviewsForm}


def _show_errors(form: forms.Form, exc: VerityError) -> None:
    """The service's message above the form, and its per-field details beside those fields."""
    form.add_error(None, exc.message)
    for field, errors in (exc.details.items() if isinstance(exc.details, dict) else []):
        errors = [e for e in (errors if isinstance(errors, list) else [errors]) if e != exc.message]
        if field in form.fields and errors:
            form.add_error(field, errors)


def _register_dataset(request: HttpRequest, intake: str, data: dict[str, Any]) -> Dataset:
    team = data.get("team")
    if intake == "archive":
        return services.dataset_register_archive(actor=request.user, name=data["name"], archive=data["archive"],
                                                 team=team)
    if intake == "reviews":
        return services.dataset_build_from_reviews(actor=request.user, name=data["name"], mix_with=data["mix_with"],
                                                   team=team)
    return services.dataset_register(actor=request.user, name=data["name"], path=data["path"], team=team)


def _registered_message(dataset: Dataset) -> str:
    parts = [f"Dataset {dataset.name} is registered. Its images are being read on the training queue; the "
             "progress shows below, and it can be trained on once it is ready."]
    if reviewed := (dataset.analysis or {}).get("reviewed"):
        parts.append(f"{reviewed['images']} reviewed images were copied; {reviewed['conflicting_images_dropped']} "
                     "images with conflicting verdicts were left out.")
    return " ".join(parts)


def _dataset_or_404(request: HttpRequest, dataset_id: int) -> Dataset:
    dataset = selectors.datasets_for(request.user).filter(pk=dataset_id).first()
    if dataset is None:
        raise Http404("No such dataset.")
    return dataset


@login_required
@require_http_methods(["GET", "POST"])
@admin_required()
def datasets(request: HttpRequest) -> HttpResponse:
    intake = request.POST.get("intake", "path") if request.method == "POST" else ""
    if request.method == "POST" and intake not in DATASET_FORMS:
        return HttpResponseBadRequest("Unknown form.")
    visible = selectors.datasets_for(request.user)
    teams = selectors.admin_teams(request.user).order_by("name")
    # Each form its own element ids (all three have a "name" field); the field names stay plain.
    dataset_forms = {key: cls(request.POST, request.FILES, auto_id=f"id_{key}_%s", **_form_kwargs(key, visible, teams))
                     if key == intake else cls(auto_id=f"id_{key}_%s", **_form_kwargs(key, visible, teams))
                     for key, cls in DATASET_FORMS.items()}
    form = dataset_forms.get(intake)
    if form is not None and form.is_valid():
        try:
            dataset = _register_dataset(request, intake, form.cleaned_data)
        except VerityError as exc:
            _show_errors(form, exc)
        else:
            messages.success(request, _registered_message(dataset))
            return redirect("verification:datasets")
    return render(request, "verification/datasets.html", {"forms": dataset_forms, "datasets": visible},
                  status=400 if request.method == "POST" else 200)


def _form_kwargs(key: str, visible: Any, teams: Any) -> dict[str, Any]:
    return {"datasets": visible, "teams": teams} if key == "reviews" else {"teams": teams}


@login_required
@require_GET
def dataset_status(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """What the Datasets page polls while a dataset is scanned."""
    if not selectors.is_admin(request.user):
        return JsonResponse({"error": "forbidden"}, status=403)
    dataset = _dataset_or_404(request, dataset_id)
    return JsonResponse({
        "status": dataset.status, "finished": not dataset.is_scanning, "files_seen": dataset.files_seen,
        "files_total": dataset.files_total, "error": dataset.scan_error,
        "total": (dataset.analysis or {}).get("total")})


@login_required
@require_POST
@admin_required()
def dataset_rescan(request: HttpRequest, dataset_id: int) -> HttpResponse:
    attempt(request, lambda: services.dataset_rescan(actor=request.user, dataset=_dataset_or_404(request, dataset_id)),
            lambda dataset: f"Dataset {dataset.name} is being scanned again.")
    return redirect("verification:datasets")


@login_required
@require_http_methods(["GET", "POST"])
@admin_required()
def training_runs(request: HttpRequest) -> HttpResponse:
    form = TrainingStartForm(request.POST or None, datasets=selectors.datasets_for(request.user))
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        dataset, base = data.pop("dataset"), data.pop("base_model")
        try:
            run = services.training_run_start(actor=request.user, dataset=dataset, base_model=base,
                                              hyperparameters=data)
        except VerityError as exc:
            _show_errors(form, exc)
        else:
            messages.success(request, f"Training run {run.pk} is queued.")
            return redirect("verification:training_run", run_id=run.pk)
    return render(request, "verification/training_runs.html", {"form": form,
                                                             "runs": selectors.training_runs_for(request.user)},
                  status=400 if request.method == "POST" else 200)


@login_required
@require_GET
@admin_required()
def training_run(request: HttpRequest, run_id: int) -> HttpResponse:
    return render(request, "verification/training_run.html", {"run": _run_or_404(request, run_id)})


@login_required
@require_GET
@admin_required(json=True)
def training_run_status(request: HttpRequest, run_id: int) -> HttpResponse:
    """What the run page polls while the run is queued or running."""
    run = _run_or_404(request, run_id)
    return JsonResponse({
        "status": run.status, "finished": run.is_finished, "cancel_requested": run.cancel_requested,
        "epoch": run.epoch, "epochs": run.epochs, "step": run.step, "total_steps": run.total_steps,
        "train_loss": run.train_loss, "train_accuracy": run.train_accuracy, "val_accuracy": run.val_accuracy,
        "eta_s": run.eta_s, "attempts": run.attempts, "error": run.error,
        "model_version": run.model_version_id, "updated_at": run.updated_at.isoformat()})


@login_required
@require_POST
@admin_required()
def training_run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    attempt(request, lambda: services.training_run_cancel(actor=request.user, run=_run_or_404(request, run_id)),
            "Cancellation requested; the run stops within a few seconds.")
    return redirect("verification:training_run", run_id=run_id)


@login_required
@require_GET
@admin_required()
def models_compare(request: HttpRequest) -> HttpResponse:
    """Two model versions side by side: test metrics and confusion matrices."""
    versions = selectors.model_versions()
    chosen = []
    for key in ("a", "b"):
        raw = request.GET.get(key, "")
        version = versions.filter(pk=int(raw)).first() if raw.isdigit() and len(raw) < 10 else None
        if raw and version is None:
            raise Http404("No such model version.")
        chosen.append(version)
    reports = [selectors.model_report(v) for v in chosen if v is not None]
    a, b = chosen
    return render(request, "verification/models_compare.html", {
        "versions": versions, "a": a, "b": b, "reports": reports, "rows": COMPARED_METRICS,
        "shared": selectors.evaluations_on_shared_data(a, b, user=request.user) if a and b else [],
        "evaluate_form": EvaluationRequestForm(initial={"a": a, "b": b}, datasets=selectors.datasets_for(request.user))
        if a and b else None})
