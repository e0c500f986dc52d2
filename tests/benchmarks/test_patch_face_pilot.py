"""benchmarks/patch_face_pilot.py: the pilot's roles never overlap, and its figures read the photos' tail."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import patch_face_pilot as pilot  # noqa: E402


@pytest.mark.parametrize("exp", ["gen", "lineage"])
def test_no_scored_source_is_trained_on(exp):
    roles = pilot.split(exp)
    assert not set(roles["train_real"]) & set(roles["test_real"])
    assert not set(roles["train_fake"]) & set(roles["test_fake"])
    assert roles["test_fake"] and roles["test_real"]
    if exp == "gen":  # the lever as it would ship: no source of the StyleGAN lineage in training
        assert not set(roles["train_fake"]) & set(pilot.LINEAGE)


def test_every_role_names_a_source_of_the_default_recipe():
    recipe = json.loads((REPO / "configs" / "fused" / "default.json").read_text())
    names = {s["name"] for s in recipe["data"]["sources"]}
    for exp in ("gen", "lineage"):
        for role, sources in pilot.split(exp).items():
            assert set(sources) <= names, (exp, role, set(sources) - names)


def test_unknown_experiment_is_refused():
    with pytest.raises(ValueError, match="unknown experiment"):
        pilot.split("faces")


def test_source_figures_rank_and_flag_against_the_photos():
    rng = np.random.default_rng(0)
    real = rng.normal(size=1000)
    figures = pilot.source_figures({"apart": real + 10, "alike": rng.normal(size=500)}, real)
    assert figures["apart"] == {"images": 1000, "ap": 1.0, "flagged": 1.0}
    assert figures["alike"]["ap"] == pytest.approx(0.5, abs=0.06)
    assert figures["alike"]["flagged"] == pytest.approx(0.01, abs=0.01)
