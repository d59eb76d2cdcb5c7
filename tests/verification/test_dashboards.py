"""Dashboards' numbers, computed from the database and checked against hand-counted fixtures."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from tests.images import png_bytes
from verification import selectors, services
from verification.models import Analysis, Case, Dataset, Membership, ModelVersion, Role, Team

pytestmark = pytest.mark.django_db


def test_percentile_is_nearest_rank():
    assert selectors.percentile([10, 20, 30, 100], 50) == 20
    assert selectors.percentile([10, 20, 30, 100], 95) == 100
    assert selectors.percentile([7], 95) == 7 and selectors.percentile([], 50) is None


def test_the_model_dashboard_shows_the_active_models_test_metrics(client, crew):
    """The expected figures are computed here, by scikit-learn, from the labels and probabilities
    this test makes, not read back from a fixture's planted numbers."""
    import numpy as np
    from sklearn import metrics as skm

    from ml.metrics import binary_metrics

    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 23)
    p = np.clip(0.5 + (y - 0.5) * 0.6 + rng.normal(0, 0.25, 23), 0, 1)
    ModelVersion.objects.create(name="computed", checkpoint="/m.pt", checkpoint_sha256="f" * 64, is_active=True,
                                metrics={"test": binary_metrics(y, p, 0.5)})
    pred = (p >= 0.5).astype(int)
    (tn, fp), (fn, tp) = skm.confusion_matrix(y, pred, labels=[0, 1]).tolist()

    client.force_login(crew["lead"])
    response = client.get(reverse("verification:dashboard_model"))
    body = response.content.decode()
    assert response.context["report"].matrix == [[tn, fp], [fn, tp]]
    for cell, n in (("tn", tn), ("fp", fp), ("fn", fn), ("tp", tp)):
        assert f'data-cell="{cell}"' in body and f">{n}</td>" in body
    expected = (f"{100 * skm.accuracy_score(y, pred):.1f}%", f"{skm.precision_score(y, pred):.3f}",
                f"{skm.recall_score(y, pred):.3f}", f"{skm.f1_score(y, pred):.3f}", f"{skm.roc_auc_score(y, p):.3f}",
                f"{len(y)} images")
    for text in expected:
        assert text in body, text


def test_the_model_dashboard_says_what_to_do_without_an_active_model(client, crew):
    client.force_login(crew["lead"])
    assert "No model is active" in client.get(reverse("verification:dashboard_model")).content.decode()
    ModelVersion.objects.create(name="bare", checkpoint="/x", checkpoint_sha256="c" * 64, is_active=True)
    assert "has no test-split metrics" in client.get(reverse("verification:dashboard_model")).content.decode()


@pytest.fixture
def reviewed(crew, make_case, version, django_user_model):
    """Hand-counted: four images compared or counted in finalised cases of the lead's team.

    A: model AI, AI; image 1 overridden to real, case final AI  -> (real, AI) disagree, (AI, AI) agree
    B: model real; final AI (yesterday)                          -> (AI, real) disagree
    C: model real; final inconclusive                            -> counted, not compared
    D: open case                                                 -> ignored
    E: another team's finalised case                             -> ignored
    """
    a = make_case(title="A", labels=("ai_generated", "ai_generated"))
    services.review_record(user=crew["owner"], image=a.images.order_by("id").first(), verdict="real",
                           comment="Photographer sent the RAW")
    services.case_finalise(user=crew["lead"], case=a, verdict="ai_generated")
    b = make_case(title="B", labels=("real",))
    services.case_finalise(user=crew["lead"], case=b, verdict="ai_generated")
    Case.objects.filter(pk=b.pk).update(finalised_at=timezone.now() - timedelta(days=1))
    c = make_case(title="C", labels=("real",))
    services.case_finalise(user=crew["lead"], case=c, verdict="inconclusive")
    make_case(title="D", labels=("ai_generated",))
    other_lead = django_user_model.objects.create_user("other-lead")
    Membership.objects.create(user=other_lead, team=crew["other_team"], role=Role.LEAD)
    e = services.case_submit(user=other_lead, team=crew["other_team"], title="E",
                             files=[SimpleUploadedFile("e.png", png_bytes(seed=99))]).case
    from tests.verification.conftest import finish

    finish(Analysis.objects.get(image__case=e), version, "ai_generated", 0.9)
    services.case_finalise(user=other_lead, case=e, verdict="real")


def test_the_live_confusion_matrix_counts_model_against_reviewers(crew, reviewed):
    report = selectors.live_report(Team.objects.filter(pk=crew["team"].pk))
    assert report.matrix == {
        "real": {"real": 0, "ai_generated": 1},
        "ai_generated": {"real": 1, "ai_generated": 1},
        "inconclusive": {"real": 1, "ai_generated": 0},
    }
    assert (report.compared, report.disagreed) == (3, 2)
    assert report.disagreement_rate == pytest.approx(2 / 3)
    today, yesterday = timezone.localdate(), timezone.localdate() - timedelta(days=1)
    assert [(d.day, d.compared, d.disagreed) for d in report.by_day] == [(yesterday, 1, 1), (today, 2, 1)]


def test_the_live_dashboard_page_shows_the_counts_and_a_chart(client, crew, reviewed):
    client.force_login(crew["lead"])
    body = client.get(reverse("verification:dashboard_live")).content.decode()
    assert '<span class="value" data-metric="compared">3</span>' in body
    assert '<span class="value" data-metric="rate">66.7%</span>' in body
    assert 'data-cell="real-ai_generated"' in body and "<svg" in body and "50.0%" in body


def test_the_operations_dashboard_counts_queue_latency_and_failures(client, crew, make_case, django_user_model):
    now = timezone.now()
    pending = make_case(title="pending", labels=(None, None, None))
    services.analysis_start(analysis_id=Analysis.objects.filter(image__case=pending).order_by("id").first().pk)
    done = make_case(title="done", labels=("real", "real", "real", "real"))
    # Latencies of 10, 20, 30 and 100 s; two finished 30 min ago, two 150 min ago.
    for analysis, latency, ago in zip(Analysis.objects.filter(image__case=done).order_by("id"),
                                      (10, 20, 30, 100), (30, 30, 150, 150)):
        finished = now - timedelta(minutes=ago)
        Analysis.objects.filter(pk=analysis.pk).update(finished_at=finished,
                                                       created_at=finished - timedelta(seconds=latency))
    failing = make_case(title="failing", labels=(None,))
    services.analysis_fail(analysis_id=Analysis.objects.get(image__case=failing).pk, reason="corrupt")
    Analysis.objects.filter(image__case=failing).update(finished_at=now - timedelta(minutes=30))
    old = make_case(title="old", labels=("real",))  # outside the 24-hour window
    Analysis.objects.filter(image__case=old).update(finished_at=now - timedelta(hours=30))

    report = selectors.operations_report(Team.objects.filter(pk=crew["team"].pk), now=now)
    assert (report.queued, report.running, report.queue_depth) == (2, 1, 3)
    assert (report.finished, report.failed) == (5, 1) and report.failure_rate == pytest.approx(0.2)
    assert (report.latency_p50_s, report.latency_p95_s) == (20, 100)
    per_hour = dict(report.per_hour)
    hour = lambda ago: (now - timedelta(minutes=ago)).replace(minute=0, second=0, microsecond=0)  # noqa: E731
    assert per_hour[hour(30)] == 3 and per_hour[hour(150)] == 2 and sum(per_hour.values()) == 5
    assert len(report.per_hour) == 24

    client.force_login(crew["lead"])
    body = client.get(reverse("verification:dashboard_operations")).content.decode()
    assert '<span class="value" data-metric="queue_depth">3</span>' in body
    assert '<span class="value" data-metric="failure_rate">20.0%</span>' in body
    assert '<span class="value" data-metric="p95">100.0 s</span>' in body


def test_another_teams_analyses_are_not_in_the_operations_counts(crew, make_case, django_user_model):
    make_case(title="ours", labels=(None,))
    services.case_submit(user=crew["outsider"], team=crew["other_team"], title="theirs",
                         files=[SimpleUploadedFile("t.png", png_bytes(seed=42))])
    report = selectors.operations_report(Team.objects.filter(pk=crew["team"].pk))
    assert report.queued == 1


def test_the_dataset_dashboard_has_an_empty_state_then_shows_registered_counts(client, crew):
    client.force_login(crew["lead"])
    url = reverse("verification:dashboard_datasets")
    assert "No datasets are registered yet" in client.get(url).content.decode()
    Dataset.objects.create(status="ready", name="newsroom-2026", path="/data/newsroom", analysis={
        "total": 30, "by_class": {"real": 18, "ai_generated": 12}, "by_split": {"train": 20, "val": 5, "test": 5},
        "by_source": {"agency": 18}, "by_generator": {"sdxl": 7, "midjourney": 5},
        "sizes": [{"label": "<256 px", "count": 4}, {"label": "256-1024 px", "count": 26}]})
    body = client.get(url).content.decode()
    assert 'data-dataset="newsroom-2026"' in body and "30 images" in body
    for key, n in (("by_class-real", 18), ("by_split-test", 5), ("by_generator-sdxl", 7), ("by_source-agency", 18)):
        assert f'data-count="{key}">{n}<' in body, key
    assert "Image sizes in newsroom-2026" in body
