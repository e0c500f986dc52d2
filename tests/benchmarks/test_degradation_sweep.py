"""The degradation sweep (benchmarks/degradation_sweep.py): figures on real images and the report."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from degradation_sweep import condition_figures, write_report  # noqa: E402

from forensics.perturb import parse_perturbation  # noqa: E402
from forensics.rendered import render_graphic  # noqa: E402


def test_figures_under_a_condition_and_the_report(detector, photos, tmp_path):
    arrays = list(photos.values())
    # real photos against a "fake" set of rendered graphics (which the detector calls fake at times):
    # the figures only need two labelled sets of real images
    pix = {"real:photos": (0, arrays[:6]), "fake:graphics": (1, [render_graphic(s)[1] for s in range(6)]),
           "fake:gen_copies": (1, arrays[6:])}
    reals, fakes = ["real:photos"], ["fake:graphics", "fake:gen_copies"]
    clean = condition_figures(detector, pix, reals, fakes, lambda a: a)
    again = condition_figures(detector, pix, reals, fakes, lambda a: a)
    assert clean == again
    assert set(clean["ap"]) == set(fakes) and 0 <= clean["real_fpr"] <= 1
    assert np.isclose(clean["mean_ap"], np.mean(list(clean["ap"].values())))
    small = condition_figures(detector, pix, reals, fakes, parse_perturbation("resize:0.5+jpeg:75"))
    assert small != clean
    fig = {"model": detector.model_id, "threshold": detector.threshold, "per_source": 6,
           "conditions": {"clean": clean, "resize:0.5+jpeg:75": small}}
    write_report(fig, tmp_path / "d.md")
    text = (tmp_path / "d.md").read_text()
    assert "| `clean` |" in text and "| `resize:0.5+jpeg:75` |" in text
    assert "AP graphics" in text and "AP gen_copies" not in text  # external sets only
