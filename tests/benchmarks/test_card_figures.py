"""Figures the model card derives from image scores."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from patch_card.scoring import ap_without_top_real  # noqa: E402
from patch_card.render import _ap_by_real  # noqa: E402


def test_ap_without_top_real_leaves_out_the_one_photo_that_outranks_every_fake():
    """One real photo above every fake costs the pooled AP; left out, the AP is what the rest earn."""
    clean = {"real:rugs": np.array([0.99, 0.1, 0.2]), "real:faces": np.array([0.3, 0.4]),
             "fake:web": np.array([0.8, 0.85, 0.9, 0.95]), "fake:easy": np.array([0.999, 0.998])}
    reals = ["real:rugs", "real:faces"]
    by_real = {"fake:web": {"real:rugs": 0.7, "real:faces": 1.0}, "fake:easy": {"real:rugs": 1.0, "real:faces": 1.0}}
    without = ap_without_top_real(clean, reals, by_real)
    assert without["fake:web"] == pytest.approx(1.0)
    assert without["fake:easy"] == pytest.approx(1.0)
    # the scores given are not changed
    assert clean["real:rugs"].size == 3


def test_card_names_the_ap_without_that_photo_for_sets_under_the_target():
    card = {"fpr": {"real:rugs": {}, "real:faces": {}},
            "ap": {"fake:web": {"clean": 0.94}, "fake:easy": {"clean": 1.0}},
            "ap_by_real": {"fake:web": {"real:rugs": 0.94, "real:faces": 1.0},
                           "fake:easy": {"real:rugs": 1.0, "real:faces": 1.0}},
            "highest_real": {"real:rugs": {"file": "rug.jpg", "score": 0.983}},
            "ap_without_top_real": {"fake:web": 0.9993, "fake:easy": 1.0}}
    text = "\n".join(_ap_by_real(card))
    assert ("- fake:web: 0.940 pooled, lowest against real:rugs (0.940), whose highest-scoring photo `rug.jpg` "
            "scores 0.983 (without that one photo the pooled AP would be 0.999); faces 1.000") in text
    assert "fake:easy:" not in text
    older = {k: v for k, v in card.items() if k != "ap_without_top_real"}
    assert "without that one photo" not in "\n".join(_ap_by_real(older))


def test_portrait_profile_takes_the_strictest_face_threshold_and_reports_what_it_costs_elsewhere():
    from patch_card.figures import THRESHOLD_PROFILES, profile_figures
    from patch_card.render import _threshold_profiles

    faces = THRESHOLD_PROFILES["portraits"]["sources"]
    rng = np.random.default_rng(0)
    clean = {n: rng.uniform(0.0, 0.5, 40) for n in faces}
    clean["real:faces-hq"][0] = 0.69
    clean["real:imagenet-sample"] = np.r_[rng.uniform(0.0, 0.5, 28), 0.75, 0.983]
    clean["fake:web"] = np.r_[np.full(30, 0.8), np.full(2, 0.6)]
    reals = [*faces, "real:imagenet-sample"]
    per_source_t = {n: float(clean[n].max()) + 1e-6 for n in reals}
    prof = profile_figures(clean, per_source_t, reals, ["fake:web"])["portraits"]
    assert prof["threshold"] == pytest.approx(0.69 + 1e-6)
    assert prof["tpr"]["fake:web"] == pytest.approx(30 / 32)
    assert prof["fpr"]["real:faces-hq"]["fpr"] == 0.0
    assert prof["fpr"]["real:imagenet-sample"]["fpr"] == pytest.approx(2 / 30)
    # faces-hq held out: the other face sources' threshold is lower, so its top photo is flagged
    assert prof["held_out"]["real:faces-hq"]["fpr"] == pytest.approx(1 / 40)
    # a recipe without every face source gets no profile
    assert profile_figures(clean, per_source_t, reals[1:], ["fake:web"]) == {}
    card = {"threshold": 0.983297, "profiles": {"portraits": prof}, "ap": {"fake:web": {"n": 32}},
            "outside_reals": {"groups": {"LFW face thumbnails (25 px, grayscale)": {"clean": {"n": 100, "max_score": 0.51}}}}}
    text = "\n".join(_threshold_profiles(card))
    assert "`forensics scan --profile portraits`" in text
    assert "| real:imagenet-sample (not a face source) | 30 | 0.067 |" in text
    assert "| fake:web | 32 | 0.938 | - |" in text
    assert "the highest scores 0.510: none at the profile's threshold" in text


def test_recipe_and_trial_text_name_the_distillation_teacher():
    """A distilled stage says which stage it was held to, and with what weight; other stages say nothing of it."""
    from patch_card.recipe import _recipe_rows, _trial_change, distillation_fields

    plain = {"run": "runs/a", "config": "configs/a.json", "arch": "r18", "augment": "mild", "selection": "last",
             "epochs_run": 2, "steps_per_epoch": 5, "best_epoch": 1, "lr": "0.0002 cosine"}
    distilled = {**plain, "run": "runs/b", "config": "configs/b.json",
                 **distillation_fields({"distill_from": "runs/a", "distill_weight": 2.0})}
    rows = _recipe_rows([plain, distilled])
    assert "distilled" not in rows[0]
    assert "distilled from stage 1 x2" in rows[1]
    assert distillation_fields({"distill_from": None}) == {}
    trial = {**distilled, "size": 64, "init_from": "runs/a", "epochs_run": 2}
    assert "distilled from runs/a (weight 2)" in _trial_change(trial)


def test_resolution_caveat_counts_the_trials_it_rests_on():
    from patch_card.render import _resolution_caveat

    def trial(width):
        return {"vs_shipped": {"clean": {"low": -width / 2, "high": width / 2},
                               "jpeg75_resize0.5": {"low": -width * 5, "high": width * 5}}}

    few = _resolution_caveat({"trials": {"a": trial(0.002), "b": trial(0.004)}})[0]
    assert "0.0015 clean" in few and "of the 2 trials" in few and "rough guide" in few
    many = _resolution_caveat({"trials": {str(i): trial(0.003) for i in range(6)}})[0]
    assert "of the 6 trials" in many and "rough guide" not in many
    assert _resolution_caveat({"trials": {}}) == []
