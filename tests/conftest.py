from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.images import png_bytes


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ResNet50 checkpoint trained for two steps on a few generated images (seconds).

    Its verdicts mean nothing; tests use it to exercise the real loading, inference and
    Grad-CAM path end to end."""
    from ml.config import PreprocessConfig, TrainConfig
    from ml.data.demo import generate_demo_dataset
    from ml.train import train

    root = tmp_path_factory.mktemp("tiny-model")
    data = generate_demo_dataset(root / "data", pairs=12, size=64, seed=1)
    config = TrainConfig(data=str(data), out_dir=str(root / "run"), epochs=1, batch_size=8, max_steps=2,
                         seed=0, device="cpu", preprocess=PreprocessConfig(input_size=64, train_crop=32))
    return train(config, show_bar=False, is_demo=True, name="tiny-test-model").checkpoint


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``demo_dataset(pairs=4, seed=4)``: the folder of a generated demo dataset of 64 px images,
    ``pairs`` real and ``pairs`` AI-generated; made once per session for each (pairs, seed)."""
    from ml.data.demo import generate_demo_dataset

    made: dict[tuple[int, int], Path] = {}

    def make(*, pairs: int, seed: int) -> Path:
        if (pairs, seed) not in made:
            made[pairs, seed] = generate_demo_dataset(tmp_path_factory.mktemp("demo-data") / "demo", pairs=pairs,
                                                      size=64, seed=seed)
        return made[pairs, seed]

    return make


@pytest.fixture
def sent_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ids of the training runs enqueued, collected instead of sent to a broker."""
    sent: list[int] = []
    monkeypatch.setattr("verification.queue.enqueue_training", sent.append)
    return sent


@pytest.fixture(autouse=True)
def _inference_precision(settings) -> None:  # type: ignore[no-untyped-def]
    """fp32 in worker tests whatever the environment says: they compare recorded verdicts with fp32
    ``Predictor`` references on a barely trained model whose probabilities sit at its threshold, and
    ``auto`` would time the precisions in every test process. bf16/int8 and ``auto`` have their own tests
    (tests/ml/test_precision.py, tests/worker/test_model_cache_precision.py)."""
    settings.VERITY_INFERENCE_PRECISION = "fp32"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _dataset_roots(settings, tmp_path_factory: pytest.TempPathFactory) -> None:  # type: ignore[no-untyped-def]
    # Tests build their datasets in pytest's temporary folders: those are the allowed dataset roots.
    settings.VERITY_DATASET_ROOTS = [tmp_path_factory.getbasetemp()]


@pytest.fixture
def teams(db):  # type: ignore[no-untyped-def]
    from verification.models import Team

    return Team.objects.create(name="Metro desk"), Team.objects.create(name="Foreign desk")


@pytest.fixture
def people(db, teams, django_user_model):  # type: ignore[no-untyped-def]
    """An owner (submits), a teammate (same team) and an outsider (another team)."""
    from verification.models import Membership, Role

    team, other = teams
    owner = django_user_model.objects.create_user("owner", password="pw-owner-123!")
    teammate = django_user_model.objects.create_user("teammate", password="pw-mate-123!")
    outsider = django_user_model.objects.create_user("outsider", password="pw-out-123!")
    Membership.objects.create(user=owner, team=team, role=Role.REVIEWER)
    Membership.objects.create(user=teammate, team=team, role=Role.REVIEWER)
    Membership.objects.create(user=outsider, team=other, role=Role.REVIEWER)
    return {"owner": owner, "teammate": teammate, "outsider": outsider, "team": team, "other_team": other}


@pytest.fixture
def active_version(db, tiny_checkpoint):  # type: ignore[no-untyped-def]
    from verification import services

    return services.model_version_register(checkpoint=tiny_checkpoint, activate=True)


@pytest.fixture
def upload():  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    def make(name: str = "photo.png", data: bytes | None = None, content_type: str = "image/png"):
        return SimpleUploadedFile(name, png_bytes() if data is None else data, content_type=content_type)

    return make


# Shared by the dataset and role tests (``pytestmark = pytest.mark.usefixtures(...)`` in each module).
@pytest.fixture
def fast_passwords(settings) -> None:  # type: ignore[no-untyped-def]
    """MD5 hashing: tests that create several users would otherwise spend their time in PBKDF2."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def dataset_dir(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Uploaded datasets land in this test's own folder."""
    settings.VERITY_DATASET_DIR = tmp_path / "datasets"
    return Path(settings.VERITY_DATASET_DIR)


@pytest.fixture
def no_dataset_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering a dataset enqueues its scan; these tests look at the registration only."""
    monkeypatch.setattr("verification.queue.enqueue_dataset_scan", lambda pk: True)
