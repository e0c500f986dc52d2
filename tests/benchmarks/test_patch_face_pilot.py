"""benchmarks/patch_face_pilot.py: the pilot's roles never overlap (its figures are patch_pairs.family_figures)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

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

