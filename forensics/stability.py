"""Verdict stability: re-score an image after realistic re-encodings and flag verdict flips."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import cv2
import numpy as np

from forensics.decoding import decode_bytes, load_image
from forensics.results import ScanResult


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return decode_bytes(buf.tobytes())[0]


def resize(rgb: np.ndarray, factor: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    size = (max(1, int(round(w * factor))), max(1, int(round(h * factor))))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


def crop(rgb: np.ndarray, keep: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    dh, dw = int(h * (1 - keep) / 2), int(w * (1 - keep) / 2)
    return rgb[dh:h - dh, dw:w - dw] if h - 2 * dh > 0 and w - 2 * dw > 0 else rgb


PERTURBATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "jpeg90": lambda x: jpeg(x, 90),
    "jpeg75": lambda x: jpeg(x, 75),
    "resize0.75": lambda x: resize(x, 0.75),
    "crop0.9": lambda x: crop(x, 0.9),
}


def stability_scores(detector, rgb: np.ndarray) -> dict[str, float]:
    """P(fake) after each re-encoding in PERTURBATIONS."""
    return {name: round(detector.score(fn(rgb)), 6) for name, fn in PERTURBATIONS.items()}


def with_stability(detector, result: ScanResult) -> ScanResult:
    """Return `result` with `stable` set and the re-encoded scores in `extra['stability']`."""
    if result.is_error or result.path is None:
        return result
    rgb = load_image(result.path).rgb
    scores = stability_scores(detector, rgb)
    flips = [n for n, s in scores.items() if (s >= result.threshold) != result.is_fake]
    return replace(result, stable=not flips,
                   extra={**result.extra, "stability": {"scores": scores, "flipped_by": flips}})
