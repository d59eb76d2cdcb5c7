"""Verity's detector as a plain PyTorch library: data, model, training, evaluation, prediction
and Grad-CAM explanations. Nothing in this package imports Django or Celery."""

CLASSES: tuple[str, ...] = ("real", "ai_generated")
"""Class names in output-index order. Index 1 is the positive class (AI-generated)."""

POSITIVE_CLASS = "ai_generated"
