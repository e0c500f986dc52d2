"""Does an image look rendered (a logo, chart, banner, test pattern) rather than photographed?

The detectors were trained on photographs and generated photo-like images; on noise-free flat colour
and smooth gradients they can be confidently wrong (the default calls scikit-image's colour wheel fake
at 1.000). This cue is a logistic regression on nine pixel statistics (flat and smooth shares, palette
concentration, colour count, residual level, grey and saturation levels, hard edges), fitted by
`benchmarks/fit_graphic_cue.py` on procedurally rendered graphics (`forensics.rendered`) against the
default recipe's real and generated training images, and stored as JSON (no pickle). Scans use it to
qualify a fake verdict with a note; it never changes a score or a verdict.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

import numpy as np

FEATURE_NAMES = ("flat", "palette8", "palette64", "log_colour_count", "smooth", "log_residual", "grey",
                 "saturation", "hard_edges")
FEATURE_SIDE = 512  # longer side the statistics are taken at (every k-th pixel: exact values kept)
MIN_SIDE = 32  # smaller images get no cue: too few pixels for the statistics
DEFAULT_CUE = Path(__file__).resolve().parent / "weights" / "graphic_cue.json"
CUE_FORMAT = "forensics-graphic-cue"


def graphic_features(rgb: np.ndarray) -> np.ndarray:
    """The cue's nine statistics of an HxWx3 uint8 image (`FEATURE_NAMES`), on every k-th pixel so
    that the longer side is at most `FEATURE_SIDE`."""
    step = max(1, -(-max(rgb.shape[:2]) // FEATURE_SIDE))
    a = rgb[::step, ::step].astype(np.int32)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    code = (r << 16) | (g << 8) | b
    flat = ((code[:-1, :-1] == code[:-1, 1:]) & (code[:-1, :-1] == code[1:, :-1])).mean()
    counts = np.sort(np.unique(code, return_counts=True)[1])[::-1]
    palette8, palette64 = counts[:8].sum() / code.size, counts[:64].sum() / code.size
    log_colour_count = np.log10(counts.size / code.size)
    y = (r + g + b) / 3.0
    centre = 2 * y[1:-1, 1:-1]
    second = np.maximum(np.abs(centre - y[1:-1, :-2] - y[1:-1, 2:]), np.abs(centre - y[:-2, 1:-1] - y[2:, 1:-1]))
    smooth = (second <= 2).mean()
    moving = second[second > 0]
    log_residual = float(np.log1p(np.median(moving))) if moving.size else 0.0
    grey = ((r == g) & (g == b)).mean()
    top, low = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    saturation = ((top - low) / np.maximum(top, 1)).mean()
    hard_edges = (np.abs(np.diff(y, axis=1)) > 64).mean()
    return np.array([flat, palette8, palette64, log_colour_count, smooth, log_residual, grey, saturation, hard_edges],
                    dtype=np.float64)


@dataclass(frozen=True)
class GraphicCue:
    """Standardise the features, then a logistic regression: P(rendered graphic). `threshold`: the
    probability from which a scan notes it."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    fitted_on: str = ""

    def probability(self, rgb: np.ndarray) -> Optional[float]:
        """P(rendered graphic) of an image, or None when it is smaller than `MIN_SIDE` px."""
        if min(rgb.shape[:2]) < MIN_SIDE:
            return None
        z = (graphic_features(rgb) - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(1.0 / (1.0 + np.exp(-(z @ np.asarray(self.coef) + self.intercept))))

    def to_json(self) -> dict:
        return {"format": CUE_FORMAT, "features": list(FEATURE_NAMES), "mean": list(self.mean),
                "scale": list(self.scale), "coef": list(self.coef), "intercept": self.intercept,
                "threshold": self.threshold, "fitted_on": self.fitted_on}

    @classmethod
    def from_json(cls, d: dict, where: str = "graphic cue") -> "GraphicCue":
        if d.get("format") != CUE_FORMAT or tuple(d.get("features", ())) != FEATURE_NAMES:
            raise ValueError(f"{where}: not a {CUE_FORMAT} file for features {', '.join(FEATURE_NAMES)}")
        n = len(FEATURE_NAMES)
        vectors = [tuple(float(v) for v in d[k]) for k in ("mean", "scale", "coef")]
        if any(len(v) != n for v in vectors) or not all(np.isfinite(v).all() for v in vectors) or min(vectors[1]) <= 0:
            raise ValueError(f"{where}: mean, scale and coef must be {n} finite numbers each (scale > 0)")
        return cls(*vectors, intercept=float(d["intercept"]), threshold=float(d["threshold"]),
                   fitted_on=str(d.get("fitted_on", "")))

    @classmethod
    def load(cls, path: Union[str, Path] = DEFAULT_CUE) -> "GraphicCue":
        return cls.from_json(json.loads(Path(path).read_text()), str(path))


@lru_cache(maxsize=1)
def shipped_cue() -> GraphicCue:
    """The cue shipped in the package (loaded once)."""
    return GraphicCue.load(DEFAULT_CUE)
