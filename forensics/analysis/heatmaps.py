"""Mean P(fake) heatmaps per image set at a common size (all, easiest N, hardest N, difference to reals).

Everything here takes plain arrays: a cell map is an (h, w) array of per-patch P(fake) values whose
grid covers the image (cell (i, j) is centred near pixel (i * stride, j * stride)). Maps of images of
different sizes are brought to one common size by resizing the cell grid, so the mean heatmap is in
image-relative coordinates (top-left cell -> top-left corner).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import cv2
import numpy as np

from forensics.overlay import save_figure  # noqa: F401  (re-exported for the analysis modules)

DEFAULT_SIZE = 64


def resize_map(cell_map: np.ndarray, size: int = DEFAULT_SIZE) -> np.ndarray:
    """(h, w) cell map -> (size, size) float32 map in image-relative coordinates."""
    m = np.asarray(cell_map, dtype=np.float32)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"expected a non-empty 2-D cell map, got shape {m.shape}")
    if m.shape == (size, size):
        return m.copy()
    if m.size == 1:
        return np.full((size, size), float(m.ravel()[0]), np.float32)
    shrink = m.shape[0] > size or m.shape[1] > size
    return cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def true_class_confidence(scores: np.ndarray, is_real: bool) -> np.ndarray:
    """Confidence of the true class from P(fake) values: P(fake) for fakes, 1 - P(fake) for reals."""
    s = np.asarray(scores, dtype=np.float64)
    return 1.0 - s if is_real else s


def mean_heatmap(maps: Sequence[np.ndarray], size: int = DEFAULT_SIZE) -> np.ndarray:
    """Mean of the cell maps after bringing each to (size, size)."""
    if len(maps) == 0:
        raise ValueError("no maps to average")
    acc = np.zeros((size, size), np.float64)
    for m in maps:
        acc += resize_map(m, size)
    return (acc / len(maps)).astype(np.float32)


def extreme_indices(scores: Sequence[float], is_real: bool, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the `n` easiest and `n` hardest images (by confidence of the true class)."""
    conf = true_class_confidence(np.asarray(scores, dtype=np.float64), is_real)
    order = np.argsort(-conf, kind="stable")  # most confident first
    n = max(0, min(int(n), conf.size))
    return order[:n], order[::-1][:n]


def peak_location(heat: np.ndarray) -> tuple[float, float]:
    """(y, x) of the maximum as fractions of the map size (0 = top/left, 1 = bottom/right)."""
    h, w = heat.shape
    i, j = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return (float(i + 0.5) / h, float(j + 0.5) / w)


def quadrant_means(heat: np.ndarray) -> dict[str, float]:
    """Mean of the map in each image quadrant (a coarse, easy-to-read location summary)."""
    h, w = heat.shape
    hy, hx = h // 2, w // 2
    return {"top-left": float(heat[:hy, :hx].mean()), "top-right": float(heat[:hy, hx:].mean()),
            "bottom-left": float(heat[hy:, :hx].mean()), "bottom-right": float(heat[hy:, hx:].mean())}


@dataclass
class SetHeatmaps:
    """Aggregated heatmaps of one image set (all maps resized to `size`)."""

    name: str
    is_real: bool
    n: int
    mean: np.ndarray
    easiest: Optional[np.ndarray]
    hardest: Optional[np.ndarray]
    n_extreme: int
    mean_image: Optional[np.ndarray] = None  # uint8 (size, size, 3), for orientation in figures
    difference: Optional[np.ndarray] = None  # mean - mean of the real images
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out = {"n": self.n, "is_real": self.is_real, "n_extreme": self.n_extreme,
               "mean_of_map": float(self.mean.mean()), "max_of_map": float(self.mean.max()),
               "min_of_map": float(self.mean.min()), "peak_yx": peak_location(self.mean),
               "quadrants": quadrant_means(self.mean)}
        if self.difference is not None:
            out["difference_to_real"] = {"mean": float(self.difference.mean()),
                                         "max": float(self.difference.max()),
                                         "peak_yx": peak_location(self.difference)}
        return out


def set_heatmaps(name: str, maps: Sequence[np.ndarray], scores: Sequence[float], *, is_real: bool,
                 size: int = DEFAULT_SIZE, n_extreme: int = 16,
                 mean_image: Optional[np.ndarray] = None) -> SetHeatmaps:
    """Mean heatmap of all maps, and of the easiest / hardest `n_extreme` images of one set."""
    resized = np.stack([resize_map(m, size) for m in maps]) if len(maps) else np.zeros((0, size, size), np.float32)
    if resized.shape[0] == 0:
        raise ValueError(f"set '{name}': no maps")
    if len(scores) != resized.shape[0]:
        raise ValueError(f"set '{name}': {len(scores)} scores for {resized.shape[0]} maps")
    easy, hard = extreme_indices(scores, is_real, n_extreme)
    return SetHeatmaps(name=name, is_real=is_real, n=int(resized.shape[0]), mean=resized.mean(axis=0),
                       easiest=resized[easy].mean(axis=0) if easy.size else None,
                       hardest=resized[hard].mean(axis=0) if hard.size else None,
                       n_extreme=int(easy.size), mean_image=mean_image)


def add_differences(sets: Mapping[str, SetHeatmaps], real_names: Sequence[str]) -> Optional[np.ndarray]:
    """Set `.difference` = mean - (image-weighted) mean of the real sets; returns the real mean."""
    reals = [sets[n] for n in real_names if n in sets]
    if not reals:
        return None
    total = sum(r.n for r in reals)
    real_mean = sum(r.mean * (r.n / total) for r in reals).astype(np.float32)
    for s in sets.values():
        s.difference = (s.mean - real_mean).astype(np.float32)
    return real_mean


def plot_mean_heatmaps(sets: Sequence[SetHeatmaps], out_path: Path, *, title: Optional[str] = None,
                       dpi: int = 90) -> Path:
    """One column per set; rows: mean image, mean heatmap, easiest N, hardest N, difference to reals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(sets)
    if not sets:
        raise ValueError("no sets to plot")
    rows = []
    if any(s.mean_image is not None for s in sets):
        rows.append(("mean image", "image"))
    rows.append(("mean P(fake) map", "mean"))
    if any(s.easiest is not None for s in sets):
        rows += [("easiest N", "easiest"), ("hardest N", "hardest")]
    has_diff = any(s.difference is not None for s in sets)
    if has_diff:
        rows.append(("minus real mean", "difference"))
    dmax = max((float(np.abs(s.difference).max()) for s in sets if s.difference is not None), default=0.0) or 1e-3
    ncol = len(sets)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.9 * ncol + 1.3, 1.9 * len(rows) + 0.6), squeeze=False)
    prob_im = diff_im = None
    for c, s in enumerate(sets):
        for r, (rlabel, key) in enumerate(rows):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if key == "image":
                if s.mean_image is not None:
                    ax.imshow(s.mean_image)
                else:
                    ax.axis("off")
            elif key == "difference":
                if s.difference is not None:
                    diff_im = ax.imshow(s.difference, cmap="RdBu_r", vmin=-dmax, vmax=dmax)
                else:
                    ax.axis("off")
            else:
                m = getattr(s, key)
                if m is None:
                    ax.axis("off")
                else:
                    prob_im = ax.imshow(m, cmap="inferno", vmin=0.0, vmax=1.0)
            if r == 0:
                ax.set_title(f"{s.name}{' (real)' if s.is_real else ''}\nn={s.n}", fontsize=9)
            if c == 0:
                ax.set_ylabel(rlabel.replace(" N", f" {s.n_extreme}"), fontsize=8)
    fig.subplots_adjust(left=0.06, right=0.86, top=0.88 if title else 0.92, bottom=0.03, wspace=0.08, hspace=0.12)
    if prob_im is not None:
        cax = fig.add_axes([0.88, 0.40, 0.015, 0.45])
        fig.colorbar(prob_im, cax=cax).set_label("mean P(fake) per patch", fontsize=8)
    if diff_im is not None:
        cax = fig.add_axes([0.88, 0.05, 0.015, 0.25])
        fig.colorbar(diff_im, cax=cax).set_label("difference", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return save_figure(fig, out_path, dpi=dpi)
