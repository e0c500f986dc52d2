"""benchmarks/fused_score_sources.py's verdict counts: the scan's three bands, per source."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from fused_score_sources import logit, verdict_counts  # noqa: E402


def test_counts_follow_the_scan_bands_per_source():
    thr, below = logit(0.95), logit(0.4)
    scores = np.array([thr, thr - 1e-6, below, below - 1e-6, -3.0, 5.0])
    sources = np.array(["a", "a", "a", "a", "b", "b"])
    out = verdict_counts(scores, sources, thr, below)
    # at the threshold is fake (as the scan labels it), just under it and at the real band's edge are uncertain
    assert out["a"] == {"n": 4, "fake": 1, "uncertain": 2, "max_logit": round(thr, 3)}
    assert out["b"] == {"n": 2, "fake": 1, "uncertain": 0, "max_logit": 5.0}


def test_logit_inverts_the_sigmoid():
    assert np.isclose(1 / (1 + np.exp(-logit(0.956129))), 0.956129)
