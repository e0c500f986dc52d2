"""Region statistics: which region each top patch falls in, against a random-patch baseline.

A *labeller* turns an image into an integer label map over named regions (or None when it does not
apply, e.g. no face found). Each top patch is assigned the region under its window centre; the
same is done for randomly drawn cells of the same images, and the table reports how much more (or
less) often top patches land in each region than random patches do (enrichment = top share /
random share).

Labellers: `GridLabeller` (spatial 3x3 grid, any image), `TextureLabeller` (per-image terciles of
local high-frequency energy: smooth / medium / detailed, any image) and, with the optional
`faces` extra, `forensics.analysis.faces.FaceLabeller` (MediaPipe face mesh + selfie segmentation).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Protocol, Sequence

import cv2
import numpy as np

from forensics.analysis.heatmaps import save_figure


class Labeller(Protocol):
    name: str
    regions: tuple[str, ...]

    def label_map(self, rgb: np.ndarray) -> Optional[np.ndarray]:
        """(H, W) int array of indices into `regions`, or None when the labeller does not apply."""


GRID_NAMES_3x3 = ("top-left", "top", "top-right", "left", "centre", "right", "bottom-left", "bottom", "bottom-right")


class GridLabeller:
    """Spatial grid of rows x cols equal cells (image-relative)."""

    def __init__(self, rows: int = 3, cols: int = 3) -> None:
        self.rows, self.cols = rows, cols
        self.name = f"grid{rows}x{cols}"
        if (rows, cols) == (3, 3):
            self.regions = GRID_NAMES_3x3
        else:
            self.regions = tuple(f"r{r}c{c}" for r in range(rows) for c in range(cols))

    def label_at(self, y: float, x: float, height: int, width: int) -> int:
        r = min(self.rows - 1, max(0, int(y * self.rows / height)))
        c = min(self.cols - 1, max(0, int(x * self.cols / width)))
        return r * self.cols + c

    def label_map(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        r = np.minimum(self.rows - 1, np.arange(h) * self.rows // h)
        c = np.minimum(self.cols - 1, np.arange(w) * self.cols // w)
        return (r[:, None] * self.cols + c[None, :]).astype(np.int32)


def highfreq_energy(rgb: np.ndarray, window: int = 9) -> np.ndarray:
    """Local mean of |Laplacian| of the grey image over `window` px (a texture / frequency-band measure)."""
    g = rgb.astype(np.float32).mean(axis=2) if rgb.ndim == 3 else rgb.astype(np.float32)
    lap = np.abs(cv2.Laplacian(g, cv2.CV_32F, ksize=3))
    k = max(1, int(window) | 1)
    return cv2.blur(lap, (k, k), borderType=cv2.BORDER_REFLECT)


class TextureLabeller:
    """Per-image terciles of local high-frequency energy: smooth / medium / detailed.

    Per-image terciles make the random baseline close to 1/3 each, so the table reads directly as
    "top patches prefer detailed (or smooth) areas of their image".
    """

    name = "texture"
    regions = ("smooth", "medium", "detailed")

    def __init__(self, window: int = 9) -> None:
        self.window = window

    def label_map(self, rgb: np.ndarray) -> np.ndarray:
        e = highfreq_energy(rgb, self.window)
        q1, q2 = np.quantile(e, [1 / 3, 2 / 3])
        return (e > q1).astype(np.int32) + (e > q2).astype(np.int32)


def label_points(label_map: np.ndarray, points: Iterable[tuple[float, float]]) -> list[int]:
    """Labels under (y, x) pixel points (clipped to the image)."""
    h, w = label_map.shape
    out = []
    for y, x in points:
        yi, xi = min(h - 1, max(0, int(round(y)))), min(w - 1, max(0, int(round(x))))
        out.append(int(label_map[yi, xi]))
    return out


@dataclass
class RegionCounts:
    """Counts of top patches and random patches per region, for one labeller and one image set."""

    labeller: str
    regions: tuple[str, ...]
    top: Counter = field(default_factory=Counter)
    random: Counter = field(default_factory=Counter)
    n_images: int = 0
    n_skipped: int = 0  # images the labeller did not apply to (e.g. no face found)

    def add(self, top_labels: Sequence[int], random_labels: Sequence[int]) -> None:
        self.n_images += 1
        self.top.update(self.regions[k] for k in top_labels)
        self.random.update(self.regions[k] for k in random_labels)

    def table(self) -> list[dict[str, Any]]:
        return region_table(self.regions, self.top, self.random)

    def to_dict(self) -> dict[str, Any]:
        return {"labeller": self.labeller, "n_images": self.n_images, "n_skipped": self.n_skipped,
                "regions": self.table()}


def region_table(regions: Sequence[str], top: Counter, random: Counter) -> list[dict[str, Any]]:
    """Per region: top count and share, random share, enrichment (top share / random share)."""
    nt, nr = sum(top.values()), sum(random.values())
    rows = []
    for name in regions:
        ts = top[name] / nt if nt else 0.0
        rs = random[name] / nr if nr else 0.0
        rows.append({"region": name, "top": int(top[name]), "top_share": ts, "random": int(random[name]),
                     "random_share": rs, "enrichment": (ts / rs) if rs > 0 else None})
    return rows


def count_regions(labeller: Labeller, rgb: np.ndarray, top_points: Sequence[tuple[float, float]],
                  random_points: Sequence[tuple[float, float]], counts: RegionCounts) -> bool:
    """Label the points of one image and add them to `counts`; False when the labeller did not apply."""
    lm = labeller.label_map(rgb)
    if lm is None:
        counts.n_skipped += 1
        return False
    counts.add(label_points(lm, top_points), label_points(lm, random_points))
    return True


def plot_region_histograms(per_set: Sequence[tuple[str, Sequence[RegionCounts]]], out_path: Path, *,
                           dpi: int = 90) -> Path:
    """One row per set, one panel per labeller: top-patch share vs random-patch share per region."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_set = [(n, [c for c in cs if c.n_images]) for n, cs in per_set]
    per_set = [(n, cs) for n, cs in per_set if cs]
    if not per_set:
        raise ValueError("no region statistics to plot")
    ncol = max(len(cs) for _, cs in per_set)
    widths = [max((len(cs[i].regions) for _, cs in per_set if i < len(cs)), default=1) for i in range(ncol)]
    fig, axes = plt.subplots(len(per_set), ncol, figsize=(sum(0.45 * w + 1.2 for w in widths), 2.3 * len(per_set) + 0.4),
                             squeeze=False, gridspec_kw={"width_ratios": widths})
    for r, (name, cs) in enumerate(per_set):
        for c in range(ncol):
            ax = axes[r][c]
            if c >= len(cs):
                ax.axis("off")
                continue
            rows = cs[c].table()
            x = np.arange(len(rows))
            ax.bar(x - 0.2, [t["top_share"] for t in rows], 0.4, label="top patches", color="#c0392b")
            ax.bar(x + 0.2, [t["random_share"] for t in rows], 0.4, label="random patches", color="#95a5a6")
            ax.set_xticks(x)
            ax.set_xticklabels([t["region"] for t in rows], rotation=45, ha="right", fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
            ax.set_title(f"{name}: {cs[c].labeller} (n={cs[c].n_images})", fontsize=8)
            if r == 0 and c == 0:
                ax.legend(fontsize=7)
            if c == 0:
                ax.set_ylabel("share", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=dpi)


def default_labellers(faces: Optional[bool] = None, warn=None) -> list[Labeller]:
    """Grid + texture, plus the MediaPipe face labeller when `faces` is True, or None and it is installed.

    faces=True and MediaPipe missing raises `FacesUnavailable` (its message says how to install it).
    """
    labellers: list[Labeller] = [GridLabeller(3, 3), TextureLabeller()]
    if faces is False:
        return labellers
    from forensics.analysis.faces import FaceLabeller, FacesUnavailable

    try:
        labellers.insert(0, FaceLabeller())
    except FacesUnavailable as e:
        if faces:
            raise
        if warn is not None:
            warn(f"note: {e}")
    return labellers
