"""Reading labelled image collections: folder layouts, CSV manifests, and the demo generator."""

from .sources import Sample, load_samples, normalise_label

__all__ = ["Sample", "load_samples", "normalise_label"]
