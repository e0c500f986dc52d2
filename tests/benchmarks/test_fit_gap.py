"""The fit-gap benchmark (benchmarks/fit_gap.py): per-split figures, real scans, and the report."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from fit_gap import gap_figures, score_sets, write_report  # noqa: E402

from forensics.perturb import parse_perturbation  # noqa: E402


def _scores(train_fake, val_fake):
    real = np.array([0.1, 0.2, 0.3, 0.4])
    return {split: {cond: {"real:a": real, "fake:b": np.array(f)} for cond in ("clean", "jpeg75_resize0.5")}
            for split, f in (("train", train_fake), ("val", val_fake))}


def test_a_set_learnt_by_heart_shows_a_gap_and_the_report_says_so(tmp_path):
    fig = gap_figures(_scores([0.9, 0.8], [0.35, 0.15]), {"real:a": 0, "fake:b": 1})
    assert fig["ap"]["fake:b"]["train"]["clean"] == pytest.approx(1.0)
    assert fig["ap"]["fake:b"]["val"]["jpeg75_resize0.5"] < 0.7
    assert fig["real_median"]["val"]["clean"] == pytest.approx(0.25)
    write_report({"model": "m", "per_source": 2, **fig, "n": {"fake:b": {"train": 2, "val": 2}}}, tmp_path / "g.md")
    text = (tmp_path / "g.md").read_text()
    assert "| fake:b | 2 / 2 | 1.000 |" in text and f"{1.0 - fig['ap']['fake:b']['val']['jpeg75_resize0.5']:+.3f} |" in text


def test_scores_are_the_scans_on_real_files(detector, photos, tmp_path):
    from PIL import Image

    paths = []
    for i, rgb in enumerate(list(photos.values())[:3]):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(rgb).save(paths[-1])
    degrade = parse_perturbation("jpeg:75+resize:0.5")
    got = score_sets(detector, {"real:p": (0, paths)}, degrade)
    assert np.allclose(got["clean"]["real:p"], [detector.score(p) for p in paths])
    assert not np.allclose(got["jpeg75_resize0.5"]["real:p"], got["clean"]["real:p"])
