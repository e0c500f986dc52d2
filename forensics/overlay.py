"""Per-image heatmap figures: P(fake) per patch upsampled and overlaid on the image.

The overlay shows where the detector found artifact evidence (each cell is one receptive-field
patch); it is labelled as such and is not a segmentation of "fake regions".
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from forensics.fileio import replaced_atomically


EVIDENCE_LABEL = "artifact evidence per patch"
COLOURBAR_LABEL = "P(fake) of each patch"


def overlay_title(score: float, label: Optional[str], threshold: Optional[float] = None) -> str:
    """Figure title with the image score and the verdict, e.g. 'P(fake) = 0.912, verdict: FAKE (threshold 0.500)'."""
    verdict = f", verdict: {label.upper()}" if label else ""
    return f"P(fake) = {score:.3f}{verdict}" + (f" (threshold {threshold:.3f})" if threshold is not None else "")


def upsample_map(probs: np.ndarray, height: int, width: int, stride: int) -> np.ndarray:
    """Cell map -> image-sized map (cell i covers pixels around i*stride)."""
    if probs.size == 1 or stride <= 0:
        return np.full((height, width), float(probs.ravel()[0]), np.float32)
    gh, gw = probs.shape
    big = cv2.resize(probs.astype(np.float32), (gw * stride, gh * stride), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((height, width), np.float32)
    h, w = min(height, big.shape[0]), min(width, big.shape[1])
    out[:h, :w] = big[:h, :w]
    if h < height:
        out[h:, :w] = big[h - 1:h, :w]
    if w < width:
        out[:, w:] = out[:, w - 1:w]
    return out


def render_overlay(rgb: np.ndarray, probs: np.ndarray, stride: int, out_path: Path, *,
                   score: Optional[float] = None, label: Optional[str] = None,
                   threshold: Optional[float] = None, title: Optional[str] = None, dpi: int = 100) -> Path:
    """Write a PNG: the image, the P(fake) map overlaid (alpha) with a colour bar, score and verdict in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = rgb.shape[:2]
    heat = upsample_map(probs, h, w, stride)
    scale = 3.2 / max(h, w)  # inches per pixel: the longer side of each panel is 3.2 in
    fig, ax = plt.subplots(1, 2, figsize=(max(4.0, w * scale * 2 + 1.3), max(2.6, h * scale + 0.8)),
                           gridspec_kw={"width_ratios": [1, 1.12]})
    ax[0].imshow(rgb)
    ax[0].set_title("image", fontsize=9)
    ax[1].imshow(rgb)
    im = ax[1].imshow(heat, cmap="inferno", vmin=0.0, vmax=1.0, alpha=0.55)
    ax[1].set_title(EVIDENCE_LABEL, fontsize=9)
    for a in ax:
        a.axis("off")
    cb = fig.colorbar(im, ax=ax[1], fraction=0.046, pad=0.04)
    cb.set_label(COLOURBAR_LABEL, fontsize=8)
    if title is None and score is not None:
        title = overlay_title(score, label, threshold)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=dpi)


def save_figure(fig, out_path: Path, *, dpi: int = 90) -> Path:
    """Save a matplotlib figure atomically as PNG (temp file + rename) and close it."""
    import matplotlib.pyplot as plt

    out_path = Path(out_path)
    try:
        with replaced_atomically(out_path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return out_path


def overlay_name(path: Optional[str], index: int) -> str:
    """A safe, unique file name for the overlay of an input path."""
    stem = Path(path).stem if path else "image"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:80].lstrip(".-") or "image"
    return f"{index:05d}_{safe}_heatmap.png"
