"""benchmarks/fused_same_rows.py: its patch ensemble (several patch models' scores of the same rows become one
P(fake), the sigmoid of their mean logit) and its refusal of a recipe whose sources are not all on disk."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from fused_same_rows import ensemble  # noqa: E402
from PIL import Image  # noqa: E402


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


def _recipe(tmp_path: Path) -> Path:
    for name in ("present", "empty"):
        (tmp_path / "data" / name).mkdir(parents=True)
    Image.new("RGB", (32, 32), (120, 30, 200)).save(tmp_path / "data" / "present" / "a.png")
    sources = [{"name": n, "label": "real", "family": "camera", "path": f"data/{n}"} for n in ("present", "empty", "absent")]
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({"data": {"sources": sources}}))
    return path


def test_a_comparison_on_a_recipe_with_missing_sources_stops_with_one_line_naming_them(tmp_path):
    recipe = _recipe(tmp_path)
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "fused_same_rows.py"
    done = subprocess.run([sys.executable, str(script), "--config", str(recipe), "--store", str(tmp_path / "store"),
                           "--train", f"a={recipe}"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {recipe}: 2 sources not found") and "empty, absent" in lines[0]
