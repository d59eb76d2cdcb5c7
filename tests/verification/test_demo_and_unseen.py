"""Every demo verdict marked everywhere, demo-ness inherited, and evaluations that score only what a
version never trained on (issue 18, items 2, 3, 8, 9)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from verification import services
from verification.models import Analysis, Dataset, ModelVersion, TrainingRun, TrainingStatus
from verification.webhooks import analysis_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_case(make_case, version) -> Any:
    ModelVersion.objects.filter(pk=version.pk).update(is_demo=True)
    version.refresh_from_db()
    return make_case(title="Made by the demo", labels=("ai_generated", "real"))


def test_a_demo_models_verdict_is_marked_in_the_case_list_csv_and_report(client, crew, demo_case, version):
    ModelVersion.objects.filter(pk=version.pk).update(is_demo=False)
    version.refresh_from_db()
    from tests.verification.conftest import finish  # a real model's verdict on a second case

    result = services.case_submit(user=crew["owner"], team=crew["team"], title="Made by a real model",
                                  files=[_upload(77)])
    finish(Analysis.objects.get(image=result.images[0]), version, "real", 0.1)
    demo_case.refresh_from_db()
    assert demo_case.model_verdict_demo is True
    client.force_login(crew["owner"])

    page = client.get(reverse("verification:case_list")).content.decode()
    assert page.count("data-demo-verdict") == 1
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("verification:case_list_csv")).content.decode())))
    assert {r["title"]: r["model_verdict_by_demo_model"] for r in rows} == {
        "Made by the demo": "yes", "Made by a real model": "no"}
    report = client.get(reverse("verification:case_report", args=[demo_case.pk])).content.decode()
    assert "data-demo-verdict" in report
    other = client.get(reverse("verification:case_report", args=[result.case.pk])).content.decode()
    assert "data-demo-verdict" not in other


def _upload(seed: int) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.images import png_bytes

    return SimpleUploadedFile(f"x{seed}.png", png_bytes(seed=seed), content_type="image/png")


def test_a_demo_models_verdict_is_marked_in_the_api_and_webhook_payloads(client, crew, demo_case):
    client.force_login(crew["owner"])
    case = client.get(reverse("api:case-detail", args=[demo_case.pk])).json()
    assert case["verdict_by_demo_model"] is True
    listed = client.get(reverse("api:case-list")).json()
    assert [c["verdict_by_demo_model"] for c in listed["results"]] == [True]
    analysis = Analysis.objects.filter(image__case=demo_case).first()
    got = client.get(reverse("api:analysis-detail", args=[analysis.pk])).json()
    assert got["by_demo_model"] is True
    assert analysis_payload(analysis, "analysis.completed")["data"]["analysis"]["by_demo_model"] is True


def _checkpoint(tmp_path: Path, *, is_demo: bool) -> Path:
    from ml.checkpoint import CheckpointMeta, save_checkpoint
    from ml.config import ModelConfig, PreprocessConfig
    from ml.model import build_model

    return save_checkpoint(tmp_path / "model.pt", build_model(ModelConfig()),
                           CheckpointMeta(model=ModelConfig(), preprocess=PreprocessConfig(), is_demo=is_demo))


def test_a_model_fine_tuned_in_the_portal_from_a_demo_model_is_a_demo_model(crew, tmp_path):
    base = ModelVersion.objects.create(name="demo-base", checkpoint="/m/demo.pt", checkpoint_sha256="d" * 64,
                                       is_demo=True)
    dataset = Dataset.objects.create(status="ready", name="newsroom", path=str(tmp_path))
    run = TrainingRun.objects.create(dataset=dataset, base_model=base, status=TrainingStatus.RUNNING,
                                     hyperparameters={"seed": 0})
    run = services.training_run_finish(run_id=run.pk, checkpoint=_checkpoint(tmp_path, is_demo=False))
    assert run.model_version.is_demo is True


def test_a_dataset_evaluation_uses_the_seed_of_the_base_models_run(crew, tmp_path):
    """A fine-tuned version was never trained on this dataset itself, but its base model was, with
    seed 5: seed 0 would put the base model's training images in the test split."""
    unsplit = {"total": 40}  # no file names its split: a seed decides it
    data = Dataset.objects.create(status="ready", name="unsplit", path=str(tmp_path / "a"), analysis=unsplit)
    other = Dataset.objects.create(status="ready", name="other", path=str(tmp_path / "b"), analysis=unsplit)
    base = ModelVersion.objects.create(name="base", checkpoint="/m/b.pt", checkpoint_sha256="b" * 64)
    child = ModelVersion.objects.create(name="child", checkpoint="/m/c.pt", checkpoint_sha256="c" * 64)
    grandchild = ModelVersion.objects.create(name="grandchild", checkpoint="/m/g.pt", checkpoint_sha256="e" * 64)
    TrainingRun.objects.create(dataset=data, model_version=base, hyperparameters={"seed": 5},
                               status=TrainingStatus.SUCCEEDED)
    TrainingRun.objects.create(dataset=other, base_model=base, model_version=child, hyperparameters={"seed": 1},
                               status=TrainingStatus.SUCCEEDED)
    TrainingRun.objects.create(dataset=other, base_model=child, model_version=grandchild,
                               hyperparameters={"seed": 1}, status=TrainingStatus.SUCCEEDED)
    chosen = services.evaluation_data(source="dataset", dataset=data, versions=[grandchild])
    assert chosen.split_seed == 5
