"""The rendered-graphic cue: its statistics, the shipped fit on graphics and photos it never saw, its
JSON format, and the note scans add for fake and near-threshold verdicts only."""
import json
from pathlib import Path

import numpy as np
import pytest

from forensics.training.data import scale_saturation
from forensics.graphic_cue import (DEFAULT_CUE, FEATURE_NAMES, MIN_SIDE, GraphicCue, graphic_features,
                                   shipped_cue)
from forensics.rendered import KINDS, render_graphic
from forensics.results import looks_rendered

FIT_SEEDS = 600  # benchmarks/prepare_default_data.py renders seeds 0-599, which the fit may have seen


def test_features_of_a_flat_image_and_of_noise():
    flat = graphic_features(np.full((64, 80, 3), 120, np.uint8))
    f = dict(zip(FEATURE_NAMES, flat))
    assert f["flat"] == 1 and f["palette8"] == 1 and f["smooth"] == 1 and f["grey"] == 1 and f["hard_edges"] == 0
    noise = dict(zip(FEATURE_NAMES, graphic_features(np.random.default_rng(0).integers(0, 256, (64, 80, 3), np.uint8))))
    assert noise["flat"] < 0.01 and noise["smooth"] < 0.05 and noise["log_colour_count"] > -0.1
    big = np.random.default_rng(1).integers(0, 256, (2000, 1500, 3), np.uint8)
    np.testing.assert_allclose(graphic_features(big), graphic_features(big[::4, ::4]))  # taken at <= 512 px


def test_shipped_cue_notes_unseen_graphics_and_no_photograph(photos):
    cue = shipped_cue()
    unseen = [render_graphic(seed)[1] for seed in range(FIT_SEEDS + 1000, FIT_SEEDS + 1000 + 4 * len(KINDS))]
    probs = np.array([cue.probability(g) for g in unseen])
    assert (probs >= cue.threshold).mean() >= 0.9
    photo_probs = {name: cue.probability(rgb) for name, rgb in photos.items()}
    assert max(photo_probs.values()) < cue.threshold, photo_probs
    grey = {n: cue.probability(scale_saturation(rgb, 0.0)) for n, rgb in photos.items()}
    assert max(grey.values()) < cue.threshold, grey
    assert cue.probability(np.zeros((MIN_SIDE - 1, 200, 3), np.uint8)) is None


def test_cue_json_round_trips_and_bad_files_are_refused(tmp_path):
    cue = GraphicCue.load(DEFAULT_CUE)
    assert GraphicCue.from_json(json.loads(json.dumps(cue.to_json()))) == cue
    good = cue.to_json()
    for bad in ({**good, "format": "pickle"}, {**good, "features": ["flat"]}, {**good, "coef": good["coef"][:-1]},
                {**good, "scale": [0.0] * len(FEATURE_NAMES)}, {**good, "mean": [float("nan")] * len(FEATURE_NAMES)}):
        path = tmp_path / "cue.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match="cue.json"):
            GraphicCue.load(path)


def test_scan_notes_a_fake_verdict_on_a_rendered_graphic_only(detector):
    import skimage

    from forensics.decoding import load_image

    data = Path(skimage.__file__).parent / "data"  # scikit-image's colour wheel and horse drawing
    wheel = detector.scan(load_image(data / "color.png").rgb)
    assert wheel.is_fake and looks_rendered(wheel.notes)
    assert any("P(rendered)" in n for n in wheel.notes)
    # a drawing the cue calls rendered but the detector calls real, not near threshold: no note
    horse = load_image(data / "horse.png").rgb
    assert shipped_cue().probability(horse) >= shipped_cue().threshold
    result = detector.scan(horse)
    assert result.label == "real" and not looks_rendered(result.notes)
