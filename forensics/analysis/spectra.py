"""Mean Fourier amplitude spectrum of high-pass residuals (where upsampling layers leave periodic peaks).

residual = grey - Gaussian blur (sigma 1 px), i.e. a high-pass that keeps the upper half of the
spectrum nearly intact; the amplitude |FFT| is taken after a Hann window, centred (DC in the middle),
and averaged over a set. Frequencies are in cycles per pixel, from -0.5 to 0.5: a generator whose
upsampling layers leave a pattern with period p shows peaks at multiples of 1/p.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import cv2
import numpy as np

from forensics.analysis.heatmaps import save_figure

DEFAULT_SPECTRUM_SIZE = 64
MAX_SIDE = 256  # larger images are centre-cropped to this many pixels before the FFT


def grey(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb, dtype=np.float32)
    return a.mean(axis=2) / 255.0 if a.ndim == 3 else a / 255.0


def highpass_residual(rgb: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Grey image minus its Gaussian blur."""
    g = grey(rgb)
    return g - cv2.GaussianBlur(g, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)


def centre_crop(a: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    h, w = a.shape[:2]
    ch, cw = min(h, max_side), min(w, max_side)
    y, x = (h - ch) // 2, (w - cw) // 2
    return a[y:y + ch, x:x + cw]


def amplitude_spectrum(residual: np.ndarray, *, window: bool = True) -> np.ndarray:
    """Centred |FFT| of a 2-D array (Hann-windowed, so image borders do not draw a cross)."""
    r = np.asarray(residual, dtype=np.float64)
    r = r - r.mean()
    if window:
        r = r * np.outer(np.hanning(r.shape[0]), np.hanning(r.shape[1]))
    return np.abs(np.fft.fftshift(np.fft.fft2(r))).astype(np.float32)


def image_spectrum(rgb: np.ndarray, *, max_side: int = MAX_SIDE, sigma: float = 1.0) -> np.ndarray:
    """Amplitude spectrum of the high-pass residual of one image (centre crop of at most max_side)."""
    return amplitude_spectrum(centre_crop(highpass_residual(rgb, sigma), max_side))


def to_common_size(spec: np.ndarray, size: int) -> np.ndarray:
    """Resample a centred spectrum to (size, size); axes stay in cycles/pixel (-0.5 .. 0.5)."""
    if spec.shape == (size, size):
        return spec
    return cv2.resize(spec.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA
                      if max(spec.shape) > size else cv2.INTER_LINEAR)


class SpectrumAccumulator:
    """Running mean of image spectra at a common size."""

    def __init__(self, size: int = DEFAULT_SPECTRUM_SIZE, *, max_side: int = MAX_SIDE) -> None:
        self.size, self.max_side = size, max_side
        self.total = np.zeros((size, size), np.float64)
        self.n = 0

    def add(self, rgb: np.ndarray) -> None:
        self.total += to_common_size(image_spectrum(rgb, max_side=self.max_side), self.size)
        self.n += 1

    @property
    def mean(self) -> Optional[np.ndarray]:
        return (self.total / self.n).astype(np.float32) if self.n else None


def mean_spectrum(images: Sequence[np.ndarray], size: Optional[int] = None) -> np.ndarray:
    """Mean amplitude spectrum of the residuals of `images` (size: common size; None = the first image's)."""
    if len(images) == 0:
        raise ValueError("no images")
    specs = [image_spectrum(im) for im in images]
    size = size or specs[0].shape[0]
    return np.mean([to_common_size(s, size) for s in specs], axis=0).astype(np.float32)


def frequencies(n: int) -> np.ndarray:
    """Frequency (cycles/pixel) of each index of a centred spectrum of length n."""
    return (np.arange(n) - n // 2) / n


def _canonical(y: float, x: float) -> tuple[float, float]:
    """One representative of {(y, x), (-y, -x)} modulo 1 (the spectrum of a real image is symmetric)."""
    def wrap(v: float) -> float:
        v = (v + 0.5) % 1.0 - 0.5          # into [-0.5, 0.5)
        return 0.5 if abs(v + 0.5) < 1e-9 else v + 0.0

    y, x = wrap(y), wrap(x)
    cands = [(y, x), (wrap(-y), wrap(-x))]
    return max(cands)


def spectral_peaks(spec: np.ndarray, *, k: int = 8, min_freq: float = 0.06, min_prominence: float = 0.3,
                   neighbourhood: int = 5) -> list[dict[str, Any]]:
    """Isolated peaks of a centred spectrum: local maxima standing above the local median.

    prominence = log10(value / local median); peaks within `min_freq` of DC are ignored and each
    symmetric pair is reported once (fy > 0, or fy == 0 and fx >= 0). Returns at most k, strongest first.
    """
    from scipy.ndimage import maximum_filter, median_filter

    logs = np.log10(np.asarray(spec, dtype=np.float64) + 1e-12)
    base = median_filter(logs, size=2 * neighbourhood + 1, mode="wrap")
    prom = logs - base
    is_max = logs >= maximum_filter(logs, size=3, mode="wrap")
    fy, fx = frequencies(spec.shape[0]), frequencies(spec.shape[1])
    out = []
    for i, j in np.argwhere(is_max & (prom >= min_prominence)):
        y, x = float(fy[i]), float(fx[j])
        if np.hypot(y, x) < min_freq:
            continue
        y, x = _canonical(y, x)
        out.append({"fy": round(y, 4), "fx": round(x, 4), "prominence": round(float(prom[i, j]), 3)})
    uniq: dict[tuple[float, float], dict[str, Any]] = {}
    for p in out:
        key = (p["fy"], p["fx"])
        if key not in uniq or p["prominence"] > uniq[key]["prominence"]:
            uniq[key] = p
    return sorted(uniq.values(), key=lambda p: -p["prominence"])[:k]


def plot_spectra(spectra: Sequence[tuple[str, np.ndarray]], out_path: Path, *, dpi: int = 90,
                 title: Optional[str] = None, max_cols: int = 4) -> Path:
    """One panel per set (at most `max_cols` a row): log10 mean amplitude spectrum of the high-pass residuals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spectra = [(n, s) for n, s in spectra if s is not None]
    if not spectra:
        raise ValueError("no spectra to plot")
    n = len(spectra)
    ncols = min(n, max_cols)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols + 0.4, 2.7 * nrows + 0.5), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, (name, s) in zip(axes.ravel(), spectra):
        logs = np.log10(s + 1e-12)
        lo, hi = np.percentile(logs, [2, 99.8])
        im = ax.imshow(logs, cmap="viridis", vmin=lo, vmax=hi, extent=(-0.5, 0.5, 0.5, -0.5))
        ax.set_title(name, fontsize=9)
        ax.set_xticks([-0.5, 0, 0.5])
        ax.set_yticks([-0.5, 0, 0.5])
        ax.tick_params(labelsize=7)
        ax.set_xlabel("cycles / px", fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)
    fig.suptitle(title or "mean amplitude spectrum of high-pass residuals (log10)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=dpi)
