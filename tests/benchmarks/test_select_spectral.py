"""The spectral features of benchmarks/select_spectral.py (section 28's hand-made representation)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from select_spectral import features  # noqa: E402


def test_features_have_a_fixed_length_for_any_size_and_none_below_32_px():
    rng = np.random.default_rng(0)
    for shape in ((40, 33, 3), (128, 128, 3), (300, 517, 3)):
        f = features(rng.integers(0, 256, shape, dtype=np.uint8))
        assert f.shape == (1313,) and np.isfinite(f).all()
    assert features(rng.integers(0, 256, (31, 200, 3), dtype=np.uint8)) is None


def test_a_periodic_upsampling_trace_shows_as_peaks_that_noise_does_not_have():
    rng = np.random.default_rng(1)
    noise = rng.normal(128, 20, (256, 256, 1)).repeat(3, axis=2)
    grid = noise.copy()
    grid[::4, ::4] += 40  # a period-4 pattern, as a 4x upsampling layer leaves
    peaks = slice(1 + 32 + 256, None)
    f_noise = features(noise.clip(0, 255).astype(np.uint8))
    f_grid = features(grid.clip(0, 255).astype(np.uint8))
    assert f_grid[peaks].max() > f_noise[peaks].max() + 1.0
