import numpy as np
import pytest

from forensics.pretrained.calibration import balanced_fpr, balanced_threshold
from forensics.pretrained.combiner import Combiner, fit_combiner


def test_one_odd_photo_of_a_small_source_cannot_set_the_threshold():
    rng = np.random.default_rng(0)
    big = rng.normal(size=1000)
    small = np.r_[rng.normal(size=49), 40.0]  # one photo scores far above everything else
    scores = np.r_[big, small]
    sources = np.array(["big"] * 1000 + ["small"] * 50)
    t = balanced_threshold(scores, sources, 0.02)
    assert t < 5  # set by the bulk of both sources, not by the outlier
    mean_fpr, per = balanced_fpr(scores, sources, t)
    assert mean_fpr <= 0.02 + 1e-9
    # a per-source cap of 1% still lets a source of 50 lose one photo (the outlier), never two
    capped = balanced_threshold(scores, sources, 0.02, per_source_cap=0.01)
    per = balanced_fpr(scores, sources, capped)[1]
    assert per["small"] * 50 <= 1 and per["big"] * 1000 <= 10
    two_odd = np.r_[big, rng.normal(size=48), 40.0, 39.0]
    assert balanced_threshold(two_odd, sources, 0.02, per_source_cap=0.01) > 39


def test_repeated_scores_share_one_allowance_per_repeat():
    rng = np.random.default_rng(1)
    big, small = rng.normal(size=500), rng.normal(size=20)
    sources = np.array(["big"] * 500 + ["small"] * 20)
    once = balanced_threshold(np.r_[big, small], sources, 0.02, per_source_cap=0.01)
    # the same scores three times over: the same threshold
    thrice = balanced_threshold(np.tile(np.r_[big, small], 3), np.tile(sources, 3), 0.02, per_source_cap=0.01, repeats=3)
    assert thrice == pytest.approx(once)
    # one odd photo of the small source in every repeat is its allowance; a second in one repeat exceeds it
    runs = [np.r_[big, small] for _ in range(3)]
    for r in runs:
        r[500] = 30.0
    runs[0][501] = 25.0
    t = balanced_threshold(np.concatenate(runs), np.tile(sources, 3), 0.05, per_source_cap=0.01, repeats=3)
    assert t > 25.0
    runs[0][501] = small[1]
    assert balanced_threshold(np.concatenate(runs), np.tile(sources, 3), 0.05, per_source_cap=0.01, repeats=3) < 25.0
    with pytest.raises(ValueError):
        balanced_threshold(small, sources[500:], 0.05, repeats=0)


def test_threshold_never_splits_ties_and_rejects_bad_targets():
    scores = np.array([1.0, 1.0, 1.0, 0.0])
    t = balanced_threshold(scores, np.array(["a"] * 4), 0.5)
    assert t > 1.0
    with pytest.raises(ValueError):
        balanced_threshold(scores, np.array(["a"] * 4), 0.0)


def test_combiner_learns_to_ignore_a_useless_branch():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(500), np.ones(500)]
    clip = rng.normal(size=1000) + 3 * y
    patch = rng.random(1000)  # no information
    c = fit_combiner(clip, patch, y)
    assert c.w_clip > 0.5 and abs(c.w_patch) < 0.1
    assert Combiner.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError):
        Combiner.from_dict({"w_clip": 1.0})
