"""The worst-group reweighting of benchmarks/fused_family_reweighting.py: harder groups gain weight, each class
keeps its total, and no group moves by more than a factor of four."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from fused_family_reweighting import group_multipliers  # noqa: E402


def test_harder_groups_gain_weight_and_each_class_keeps_its_total():
    labels = np.array([1] * 6 + [0] * 4)
    groups = np.array(["easy"] * 3 + ["hard"] * 3 + ["photos"] * 2 + ["scans"] * 2)
    base = np.array([1.0] * 6 + [1.5] * 4)
    loss = np.array([0.1] * 3 + [0.9] * 3 + [0.3] * 2 + [0.3] * 2)
    w = group_multipliers(loss, labels, groups, base, gamma=1.0)
    assert w[3] > w[0]  # the hard fake family gains on the easy one
    assert np.isclose(w[labels == 1].sum(), base[labels == 1].sum())
    assert np.isclose(w[labels == 0].sum(), base[labels == 0].sum())
    assert np.allclose(w[labels == 0], base[labels == 0])  # equal losses: unchanged
    steep = group_multipliers(loss, labels, groups, base, gamma=10.0)
    assert steep[3] / steep[0] <= 16.0 + 1e-9  # each multiplier is clipped to [1/4, 4]
