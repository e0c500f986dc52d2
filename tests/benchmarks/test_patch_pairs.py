"""benchmarks/patch_pairs.py's per-family figures: AP against the real photos listed (each class half), AP
against the never-trained ones, and the share over the reals' 99th percentile."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from patch_pairs import family_figures  # noqa: E402


def test_family_figures_rank_each_family_against_the_reals_and_count_its_flags():
    rng = np.random.default_rng(0)
    scores = {f"real/{i}": float(s) for i, s in enumerate(rng.uniform(0.0, 0.5, 200))}
    scores.update({f"caught/{i}": 0.9 for i in range(20)})
    scores.update({f"missed/{i}": float(s) for i, s in enumerate(rng.uniform(0.0, 0.5, 20))})
    reals = [f"real/{i}" for i in range(200)]
    fakes = {"caught": [f"caught/{i}" for i in range(20)], "missed": [f"missed/{i}" for i in range(20)],
             "unscored": ["nowhere/0"]}
    figures = family_figures(scores, fakes, reals, unseen_reals=reals[:50])
    assert set(figures) == {"caught", "missed"}  # a family with no scored image is left out
    assert figures["caught"]["ap"] == 1.0 and figures["caught"]["ap_unseen_reals"] == 1.0
    assert figures["caught"]["flagged"] == 1.0 and figures["caught"]["images"] == 20
    assert 0.3 < figures["missed"]["ap"] < 0.7  # drawn like the reals: near chance
    assert figures["missed"]["flagged"] <= 0.1


def test_family_figures_without_never_trained_reals_rank_and_flag_against_the_listed_ones():
    rng = np.random.default_rng(0)
    real = rng.normal(size=1000)
    scores = {f"real/{i}": float(v) for i, v in enumerate(real)}
    scores.update({f"apart/{i}": float(v) + 10 for i, v in enumerate(real)})
    scores.update({f"alike/{i}": float(v) for i, v in enumerate(rng.normal(size=500))})
    fakes = {"apart": [f"apart/{i}" for i in range(1000)], "alike": [f"alike/{i}" for i in range(500)]}
    figures = family_figures(scores, fakes, [f"real/{i}" for i in range(1000)])
    assert figures["apart"] == {"images": 1000, "flagged": 1.0, "ap": 1.0}  # no ap_unseen_reals column
    assert abs(figures["alike"]["ap"] - 0.5) < 0.06
    assert figures["alike"]["flagged"] <= 0.02
