"""benchmarks/fused_score_sources.py's verdict counts: the scan's three bands, per source."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from fused_score_sources import verdict_counts  # noqa: E402

from forensics.pretrained.combiner import patch_logit, sigmoid  # noqa: E402


def test_counts_follow_the_scan_bands_per_source():
    thr, below = 0.95, 0.4
    # logits whose reported (rounded) P(fake) is: the threshold, just under it, the real band's edge, just under that
    scores = patch_logit(np.array([thr, thr - 1e-5, below, below - 1e-5, 0.05, 0.99]))
    sources = np.array(["a", "a", "a", "a", "b", "b"])
    out = verdict_counts(scores, sources, thr, below)
    # at the threshold is fake (as the scan labels it), just under it and at the real band's edge are uncertain
    assert out["a"] == {"n": 4, "fake": 1, "uncertain": 2, "max_logit": round(float(scores[0]), 3)}
    assert out["b"] == {"n": 2, "fake": 1, "uncertain": 0, "max_logit": round(float(scores[5]), 3)}


def test_without_a_real_band_everything_under_the_threshold_is_real():
    out = verdict_counts(patch_logit(np.array([0.5, 0.94, 0.96])), np.array(["a"] * 3), 0.95, None)
    assert out["a"]["fake"] == 1 and out["a"]["uncertain"] == 0


def test_logit_inverts_the_sigmoid():
    assert np.isclose(sigmoid(patch_logit(0.956129)), 0.956129)
