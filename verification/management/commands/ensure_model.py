"""Make sure a classifier is active: a configured checkpoint, else the model `make model` made,
else (no real data was ever trained on) the demo model, trained here and labelled as a demo."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from verification import first_run, services
from verification.selectors import active_model


class Command(BaseCommand):
    help = ("Ensure a model version is active. Uses VERITY_MODEL_CHECKPOINT if set, else the model "
            "`make model` trained on real data (VERITY_MODEL_DIR/recipe/model.pt); only when neither "
            "exists, trains a small DEMO model on generated data (minutes on a CPU), marked as a demo.")

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--pairs", type=int, default=int(os.environ.get("VERITY_DEMO_PAIRS", 300)))
        parser.add_argument("--epochs", type=int, default=int(os.environ.get("VERITY_DEMO_EPOCHS", 8)))

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        current = active_model()
        recipe_ckpt = settings.VERITY_MODEL_DIR / "recipe" / "model.pt"
        if current is not None and not (current.is_demo and recipe_ckpt.is_file()):
            self.stdout.write(f"Active model: {current}.")
            return
        configured = settings.VERITY_MODEL_CHECKPOINT
        if configured:
            self._register(Path(configured))
            return
        if recipe_ckpt.is_file():
            # A model trained on real data exists: it replaces the demo (the demo stays registered,
            # so an admin can still see it and roll back to it on the Models page).
            self._register(recipe_ckpt)
            return
        demo_ckpt = settings.VERITY_MODEL_DIR / "demo" / "model.pt"
        try:
            if not demo_ckpt.exists():
                self._train_demo(demo_ckpt.parent, pairs=options["pairs"], epochs=options["epochs"])
            first_run.write("registering")
            self._register(demo_ckpt)
            self._register_demo_dataset(settings.DATA_DIR / "demo-data")
        except BaseException as exc:
            # Pages say so instead of showing a training banner that never moves.
            first_run.write("failed", message=f"{type(exc).__name__}: {exc}"[:300])
            raise
        first_run.clear()

    def _register(self, path: Path) -> None:
        version = services.model_version_install(checkpoint=path, note="activated at start-up")
        kind = "DEMO model" if version.is_demo else "model"
        self.stdout.write(self.style.SUCCESS(f"Active {kind}: {version.name} ({path})."))

    def _register_demo_dataset(self, data_dir: Path) -> None:
        """List the demo's generated images on the Datasets page, so people see what it learnt from."""
        from django.contrib.auth import get_user_model

        from verification.models import Dataset

        admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
        if admin is None or not (data_dir / "MANIFEST.csv").exists() or Dataset.objects.filter(
                path=str(data_dir)).exists():
            return
        try:
            dataset = services.dataset_register(actor=admin, name="demo-generated", path=str(data_dir))
        except Exception as exc:  # noqa: BLE001 - the model is ready; a missing listing must not stop the start
            self.stdout.write(self.style.WARNING(f"The demo dataset was not listed on the Datasets page: {exc}"))
        else:
            self.stdout.write(f"Demo dataset registered: {dataset.name} ({data_dir}); the training worker scans it.")

    def _train_demo(self, out_dir: Path, *, pairs: int, epochs: int) -> None:
        from ml.config import PreprocessConfig, TrainConfig
        from ml.data.demo import generate_demo_dataset
        from ml.train import train

        self.stdout.write(self.style.WARNING(
            "No trained model found, so Verity will train a small DEMO model on images it generates "
            "itself. This takes a few minutes on a CPU, once. A demo model is labelled as such in the "
            "portal and is not a detector for real-world AI images."))
        data_dir = settings.DATA_DIR / "demo-data"
        if not (data_dir / "MANIFEST.csv").exists():
            first_run.write("generating", pairs=pairs)
            generate_demo_dataset(data_dir, pairs=pairs, size=128, seed=0, progress=True)
        config = TrainConfig(data=str(data_dir), out_dir=str(out_dir), epochs=epochs, batch_size=32, lr=1e-3,
                             seed=0, preprocess=PreprocessConfig(input_size=128, train_crop=64))
        first_run.write("training", epoch=0, epochs=epochs)

        def report(event: dict) -> None:  # type: ignore[type-arg]
            if event.get("event") in ("step", "epoch"):
                first_run.write("training", epoch=event.get("epoch"), epochs=event.get("epochs"),
                                step=event.get("step"), total_steps=event.get("total_steps"),
                                eta_s=event.get("eta_s"))

        result = train(config, progress=report, is_demo=True, name="demo-resnet50")
        test = result.metrics.get("test", {})
        if test:
            self.stdout.write(f"Demo model test accuracy {test['accuracy']:.3f} on {test['n']} generated images.")
