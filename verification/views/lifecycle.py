"""Admins' model lifecycle pages: datasets, training runs (start, watch, cancel) and comparing
two model versions before promoting one. Every change goes through verification.services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import dashboards, selectors, services
from ..errors import VerityError
from ..forms import DatasetRegisterForm, EvaluationRequestForm, TrainingStartForm
from ..models import TrainingRun
from ._common import forbidden

# (label, metric key, shown as: True a percentage, False a number, None a count)
COMPARED_METRICS = [("Accuracy", "accuracy", True), ("Precision", "precision", False), ("Recall", "recall", False),
                    ("F1", "f1", False), ("ROC-AUC", "roc_auc", False), ("Images", "n", None)]

_NOT_ADMIN = "Only admins manage datasets, training and model versions. Ask an admin of your team."


def _run_or_404(run_id: int) -> TrainingRun:
    run = selectors.training_runs().filter(pk=run_id).first()
    if run is None:
        raise Http404("No such training run.")
    return run


@login_required
@require_http_methods(["GET", "POST"])
def datasets(request: HttpRequest) -> HttpResponse:
    if not selectors.is_admin(request.user):
        return forbidden(request, _NOT_ADMIN)
    form = DatasetRegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = services.dataset_register(actor=request.user, **form.cleaned_data)
        except VerityError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Dataset {dataset.name} is registered with {dataset.analysis['total']} images.")
            return redirect("verification:datasets")
    return render(request, "verification/datasets.html", {"form": form, "datasets": selectors.datasets()},
                  status=400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def training_runs(request: HttpRequest) -> HttpResponse:
    if not selectors.is_admin(request.user):
        return forbidden(request, _NOT_ADMIN)
    form = TrainingStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        dataset, base = data.pop("dataset"), data.pop("base_model")
        try:
            run = services.training_run_start(actor=request.user, dataset=dataset, base_model=base,
                                              hyperparameters=data)
        except VerityError as exc:
            form.add_error(None, exc.message)
            for field, errors in (exc.details.items() if isinstance(exc.details, dict) else []):
                if field in form.fields:
                    form.add_error(field, errors)
        else:
            messages.success(request, f"Training run {run.pk} is queued.")
            return redirect("verification:training_run", run_id=run.pk)
    return render(request, "verification/training_runs.html", {"form": form, "runs": selectors.training_runs()},
                  status=400 if request.method == "POST" else 200)


@login_required
@require_GET
def training_run(request: HttpRequest, run_id: int) -> HttpResponse:
    if not selectors.is_admin(request.user):
        return forbidden(request, _NOT_ADMIN)
    return render(request, "verification/training_run.html", {"run": _run_or_404(run_id)})


@login_required
@require_GET
def training_run_status(request: HttpRequest, run_id: int) -> HttpResponse:
    """What the run page polls while the run is queued or running."""
    if not selectors.is_admin(request.user):
        return JsonResponse({"error": "forbidden"}, status=403)
    run = _run_or_404(run_id)
    return JsonResponse({
        "status": run.status, "finished": run.is_finished, "cancel_requested": run.cancel_requested,
        "epoch": run.epoch, "epochs": run.epochs, "step": run.step, "total_steps": run.total_steps,
        "train_loss": run.train_loss, "val_accuracy": run.val_accuracy, "eta_s": run.eta_s, "error": run.error,
        "model_version": run.model_version_id, "updated_at": run.updated_at.isoformat()})


@login_required
@require_POST
def training_run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    if not selectors.is_admin(request.user):
        return forbidden(request, _NOT_ADMIN)
    try:
        services.training_run_cancel(actor=request.user, run=_run_or_404(run_id))
    except VerityError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Cancellation requested; the run stops within a few seconds.")
    return redirect("verification:training_run", run_id=run_id)


@login_required
@require_GET
def models_compare(request: HttpRequest) -> HttpResponse:
    """Two model versions side by side: test metrics and confusion matrices."""
    if not selectors.is_admin(request.user):
        return forbidden(request, _NOT_ADMIN)
    versions = selectors.model_versions()
    chosen = []
    for key in ("a", "b"):
        raw = request.GET.get(key, "")
        version = versions.filter(pk=int(raw)).first() if raw.isdigit() and len(raw) < 10 else None
        if raw and version is None:
            raise Http404("No such model version.")
        chosen.append(version)
    reports = [dashboards.model_report(v) for v in chosen if v is not None]
    a, b = chosen
    return render(request, "verification/models_compare.html", {
        "versions": versions, "a": a, "b": b, "reports": reports, "rows": COMPARED_METRICS,
        "shared": selectors.evaluations_on_shared_data(a, b) if a and b else [],
        "evaluate_form": EvaluationRequestForm(initial={"a": a, "b": b}) if a and b else None})
