"""Top patches: the receptive-field window of each image's most confident cell (for its true class).

Cell (i, j) of a map with geometry (stride, receptive_field, offset) sees the pixel window
rows [i*stride + offset, i*stride + offset + rf), cols likewise; windows that reach past the
image border are zero-padded so every patch has the same rf x rf size.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from forensics.analysis.heatmaps import save_figure, true_class_confidence


@dataclass(frozen=True)
class Geometry:
    """How cells map to pixels: window of cell (i, j) starts at (i*stride + offset, j*stride + offset)."""

    stride: int
    receptive_field: int
    offset: int = 0

    def window(self, i: int, j: int) -> tuple[int, int, int, int]:
        """Unclipped (x0, y0, x1, y1) of cell (i, j)."""
        y0, x0 = i * self.stride + self.offset, j * self.stride + self.offset
        return x0, y0, x0 + self.receptive_field, y0 + self.receptive_field

    def centre(self, i: int, j: int) -> tuple[float, float]:
        """(y, x) pixel centre of cell (i, j)'s window."""
        x0, y0, x1, y1 = self.window(i, j)
        return (y0 + y1 - 1) / 2.0, (x0 + x1 - 1) / 2.0

    def valid_cells(self, grid: tuple[int, int], height: int, width: int) -> np.ndarray:
        """Boolean (h, w) mask of cells whose window centre lies inside the image (not in padding)."""
        gh, gw = grid
        ii, jj = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        cy = ii * self.stride + self.offset + (self.receptive_field - 1) / 2.0
        cx = jj * self.stride + self.offset + (self.receptive_field - 1) / 2.0
        ok = (cy >= 0) & (cy < height) & (cx >= 0) & (cx < width)
        if not ok.any():
            ok[:] = True
        return ok


def extract_window(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Cut (x0, y0, x1, y1) from an image; parts outside the image are zeros."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = rgb.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0) + rgb.shape[2:], dtype=rgb.dtype)
    sy0, sx0, sy1, sx1 = max(0, y0), max(0, x0), min(h, y1), min(w, x1)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return out


def best_cell(probs: np.ndarray, is_real: bool, valid: Optional[np.ndarray] = None) -> tuple[int, int, float]:
    """(i, j, confidence) of the cell most confident in the true class."""
    conf = true_class_confidence(probs, is_real)
    if valid is not None:
        conf = np.where(valid, conf, -np.inf)
    i, j = np.unravel_index(int(np.argmax(conf)), conf.shape)
    return int(i), int(j), float(conf[i, j])


@dataclass
class TopPatch:
    """The best patch of one image."""

    image_index: int
    path: Optional[str]
    cell: tuple[int, int]
    confidence: float
    box: tuple[int, int, int, int]   # unclipped window in image pixels
    centre: tuple[float, float]      # (y, x) in image pixels
    image_size: tuple[int, int]      # (height, width)
    window: Optional[np.ndarray] = None  # uint8 (rf, rf, 3), zero-padded


def top_patch(rgb: np.ndarray, probs: np.ndarray, geometry: Geometry, *, is_real: bool, image_index: int = 0,
              path: Optional[str] = None, keep_window: bool = True) -> TopPatch:
    """The most confident (true-class) patch of one image with its zero-padded receptive-field window."""
    h, w = rgb.shape[:2]
    valid = geometry.valid_cells(probs.shape, h, w)
    i, j, conf = best_cell(probs, is_real, valid)
    box = geometry.window(i, j)
    return TopPatch(image_index=image_index, path=path, cell=(i, j), confidence=conf, box=box,
                    centre=geometry.centre(i, j), image_size=(h, w),
                    window=extract_window(rgb, box) if keep_window else None)


def random_cells(probs_shape: tuple[int, int], geometry: Geometry, height: int, width: int, n: int,
                 rng: np.random.Generator) -> list[tuple[int, int]]:
    """`n` cells drawn uniformly among the valid cells (the random-patch baseline)."""
    valid = np.argwhere(geometry.valid_cells(probs_shape, height, width))
    pick = rng.integers(0, len(valid), size=n)
    return [(int(valid[k][0]), int(valid[k][1])) for k in pick]


def select_top(patches: Sequence[TopPatch], k: int) -> list[TopPatch]:
    """The `k` most confident patches (one per image already), best first."""
    return sorted(patches, key=lambda p: -p.confidence)[:max(0, int(k))]


def patch_grid(windows: Sequence[np.ndarray], ncols: int = 8, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile equal-size windows into one uint8 mosaic (row-major, best first)."""
    if not windows:
        raise ValueError("no patches")
    ph, pw = windows[0].shape[:2]
    ncols = max(1, min(ncols, len(windows)))
    nrows = -(-len(windows) // ncols)
    grid = np.full((nrows * (ph + pad) + pad, ncols * (pw + pad) + pad, 3), fill, np.uint8)
    for k, win in enumerate(windows):
        r, c = divmod(k, ncols)
        y, x = pad + r * (ph + pad), pad + c * (pw + pad)
        grid[y:y + ph, x:x + pw] = win[:ph, :pw]
    return grid


def plot_patch_grids(grids: Sequence[tuple[str, Sequence[TopPatch]]], out_path: Path, *, ncols: int = 8,
                     dpi: int = 90, title: Optional[str] = None) -> Path:
    """One panel per set: the top-K patch windows (best first) with their confidences."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grids = [(n, [p for p in ps if p.window is not None]) for n, ps in grids]
    grids = [(n, ps) for n, ps in grids if ps]
    if not grids:
        raise ValueError("no patches to plot")
    n = len(grids)
    mosaics = [patch_grid([p.window for p in ps], ncols=ncols) for _, ps in grids]
    aspect = max(m.shape[0] / m.shape[1] for m in mosaics)
    per_row = min(n, 4)
    nrows = -(-n // per_row)
    fig, axes = plt.subplots(nrows, per_row, figsize=(3.0 * per_row, nrows * (3.0 * aspect + 0.55)), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, (name, ps), mosaic in zip(axes.ravel(), grids, mosaics):
        ax.imshow(mosaic, interpolation="nearest")
        confs = [p.confidence for p in ps]
        ax.set_title(f"{name}: top {len(ps)}\nconfidence {min(confs):.2f}-{max(confs):.2f}", fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=dpi)
