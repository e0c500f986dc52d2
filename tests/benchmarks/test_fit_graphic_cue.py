"""Fitting the rendered-graphic cue (benchmarks/fit_graphic_cue.py) on real folders, and its report."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from fit_graphic_cue import chart, fit_cue, noted, probabilities, training_features, write_report  # noqa: E402

from forensics.graphic_cue import GraphicCue  # noqa: E402
from forensics.rendered import render_graphic, write_graphics  # noqa: E402


def _photo_folder(folder: Path, photos: dict) -> Path:
    folder.mkdir()
    for name, rgb in photos.items():  # crops, so that each photo gives several training images
        for k, (y, x) in enumerate(((0, 0), (40, 40), (80, 20))):
            Image.fromarray(rgb[y:y + 200, x:x + 200]).save(folder / f"{name}_{k}.png")
    return folder


def test_a_fit_on_photos_and_graphics_separates_unseen_ones(tmp_path, photos):
    real = _photo_folder(tmp_path / "real", dict(list(photos.items())[:4]))
    fake = _photo_folder(tmp_path / "fake", dict(list(photos.items())[4:]))
    write_graphics(tmp_path / "graphics", 40)
    X, y, names = training_features({"real": [str(real)], "fake": [str(fake)]}, tmp_path / "graphics",
                                    per_source=50, val_fraction=0.15)
    assert X.shape[1] == 9 and set(y) == {0, 1} and {"real", "fake", "graphics"} == set(names)
    assert (y == 1).sum() == sum(1 for n in names if n == "graphics")
    cue = fit_cue(X, y, 0.8, "test fit")
    assert GraphicCue.from_json(cue.to_json()) == cue
    unseen = noted(probabilities(cue, [render_graphic(seed)[1] for seed in range(5000, 5020)] + [chart(1), chart(2)]), 0.8)
    seen_photos = noted(probabilities(cue, list(photos.values())), 0.8)
    # a fit on a few dozen images: every unseen graphic still scores above every photo
    assert unseen["n"] == 22 and unseen["min"] > seen_photos["max"] and seen_photos["noted"] == 0


def test_report_lists_every_set(tmp_path, photos):
    cue = GraphicCue((0.0,) * 9, (1.0,) * 9, (0.0,) * 8 + (1.0,), 0.0, 0.8, "nothing")
    some = noted(probabilities(cue, list(photos.values())[:2]), cue.threshold)
    fig = {"graphics": {"matplotlib charts": some}, "validation": {"real:x": some},
           "validation_jpeg75_resize0.5": {"real:x": some}, "outside_photos": some,
           "detector": {"model": "m", "threshold": 0.9, "matplotlib charts": {
               "n": 2, "called_fake": 1, "called_fake_and_noted": 1, "max_score": 0.95}},
           "per_image": {"a.png": 0.5, "tiny.png": None},
           "cost": {"256": {"cue_ms": 4.0, "scan_ms": 20.0, "ratio": 0.2}}}
    write_report(fig, cue, tmp_path / "r.md")
    text = (tmp_path / "r.md").read_text()
    for expected in ("| matplotlib charts | 2 |", "| real:x (clean) | 2 |", "| real:x (JPEG 75 + 0.5x) | 2 |",
                     "| matplotlib charts | 2 | 1 | 1 | 0.950 |", "| a.png | 0.500 |",
                     "| 256 px | 4.0 | 20.0 | 0.20 |"):
        assert expected in text
    assert "tiny.png" not in text and np.isfinite(some["median"])
