"""The screening script's prediction ensembles (benchmarks/screen_models.py `A+B` runs)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from patch_card.scoring import model_maps  # noqa: E402
from screen_models import _mean_maps  # noqa: E402


def _maps_of(detector, photos):
    arrays = list(photos.values())[:2]
    pix = {"real:photos": ([f"{i}.png" for i in range(len(arrays))], arrays)}
    degraded = {"jpeg75_resize0.5": {"real:photos": [a[::2, ::2] for a in arrays]},
                "control_downscale": {}, "control_colour": {}}
    return model_maps(detector, pix, degraded)


def test_an_ensemble_averages_each_images_cell_logits(detector, photos):
    maps = _maps_of(detector, photos)
    shifted = {c: {n: [m + 2.0 for m in ms] for n, ms in sets.items()} for c, sets in maps.items()}
    both = _mean_maps([maps, shifted])
    for cond in ("clean", "jpeg75_resize0.5"):
        for mine, theirs in zip(maps[cond]["real:photos"], both[cond]["real:photos"]):
            assert theirs.shape == mine.shape and mine.size > 1  # real cell grids, not image scores
            np.testing.assert_allclose(theirs, mine + 1.0, rtol=1e-6)
    assert _mean_maps([maps]) is maps


def test_models_of_different_strides_are_refused():
    a = {"clean": {"fake:x": [np.zeros((4, 4))]}}
    b = {"clean": {"fake:x": [np.zeros((8, 8))]}}
    with pytest.raises(ValueError, match="clean/fake:x: the ensembled models' cell grids differ"):
        _mean_maps([a, b])
