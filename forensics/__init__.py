"""forensics: tell generated images from real photographs with patch classifiers.

Public API::

    from forensics import Detector
    det = Detector.load()            # embedded default model
    result = det.scan("photo.jpg")   # ScanResult(score=P(fake), label=..., heatmap=...)
    forensics.scan("photo.jpg")      # the same with a cached default detector

Heavy modules (torch, timm) load on first use, so `import forensics` stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Detector": "forensics.detector",
    "scan": "forensics.detector",
    "ScanResult": "forensics.results",
    "ImageDecodeError": "forensics.decoding",
    "load_image": "forensics.decoding",
    "TrainConfig": "forensics.training.train",
    "train": "forensics.training.train",
    "evaluate": "forensics.evaluate",
    "calibrate": "forensics.calibrate",
    "audit": "forensics.audit",
    "inspect_provenance": "forensics.provenance",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'forensics' has no attribute {name!r}")
