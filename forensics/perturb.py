"""Degradations applied identically to both classes (robustness curves): jpeg:Q, resize:F, blur:SIGMA, crop:F."""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from forensics.stability import crop, jpeg, resize

Perturbation = Callable[[np.ndarray], np.ndarray]


def blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(rgb, (0, 0), sigmaX=float(sigma)) if sigma > 0 else rgb


_KINDS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "jpeg": lambda x, v: jpeg(x, int(v)), "resize": resize, "blur": blur, "crop": crop,
}


def parse_perturbation(spec: str) -> Perturbation:
    """'jpeg:75+resize:0.5' -> a function applying both in order."""
    steps = []
    for part in spec.split("+"):
        kind, _, value = part.strip().partition(":")
        if kind not in _KINDS or not value:
            raise ValueError(f"bad perturbation '{part}'; use jpeg:Q, resize:F, blur:SIGMA or crop:F, joined by '+'")
        try:
            v = float(value)
        except ValueError:
            raise ValueError(f"bad perturbation value in '{part}'") from None
        steps.append((_KINDS[kind], v))

    def apply(rgb: np.ndarray) -> np.ndarray:
        for fn, v in steps:
            rgb = fn(rgb, v)
        return rgb

    return apply


def parse_perturbations(specs: str | None) -> dict[str, Perturbation]:
    """Comma-separated conditions -> name -> function; 'clean' is always first."""
    out: dict[str, Perturbation] = {"clean": lambda x: x}
    for s in (specs or "").split(","):
        if s.strip():
            out[s.strip()] = parse_perturbation(s)
    return out
