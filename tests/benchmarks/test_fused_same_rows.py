"""benchmarks/fused_same_rows.py's patch ensemble: several patch models' scores of the same rows become one
P(fake), the sigmoid of their mean logit."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from fused_same_rows import ensemble  # noqa: E402


def test_one_model_is_passed_through_unchanged():
    scores = np.array([0.1, 0.5, 0.99])
    assert ensemble([scores]) is scores


def test_an_ensemble_averages_logits_so_agreeing_models_keep_their_score():
    a = np.array([0.2, 0.9, 0.5])
    assert np.allclose(ensemble([a, a.copy()]), a)
    # opposite logits cancel to 0.5; a confident model outweighs an unsure one in the same direction
    assert np.allclose(ensemble([np.array([0.9]), np.array([0.1])]), 0.5)
    assert 0.9 < ensemble([np.array([0.999]), np.array([0.6])])[0] < 0.999


def test_a_row_one_model_did_not_score_stays_unscored():
    out = ensemble([np.array([0.3, np.nan]), np.array([0.7, 0.8])])
    assert np.isclose(out[0], 0.5) and np.isnan(out[1])
