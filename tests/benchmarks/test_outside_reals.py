"""The model card's check on real photographs from outside ../shared/data (benchmarks/outside_reals.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from patch_card.scoring import GRAPHICS_GROUP  # noqa: E402
from patch_card.render import _outside_near_caveat, _outside_reals  # noqa: E402
from outside_reals import GROUPS, lfw_faces, outside_real_figures, package_data_dir  # noqa: E402


def test_every_listed_photo_ships_with_its_package():
    missing = [f"{p.package}/{p.file}" for photos in GROUPS.values() for p in photos
               if not (package_data_dir(p.package) / p.file).is_file()]
    assert missing == []


def test_lfw_thumbnails_are_the_hundred_faces_as_rgb_bytes():
    faces = lfw_faces()
    assert len(faces) == 100
    assert all(f.shape == (25, 25, 3) and f.dtype == np.uint8 for f in faces)
    assert all((f[..., 0] == f[..., 2]).all() for f in faces)
    assert len({f.tobytes() for f in faces}) == 100


@pytest.fixture(scope="module")
def figures(detector):
    return outside_real_figures(detector, threshold=0.2, near_from=0.1)


def test_figures_are_the_scores_scan_gives_each_file(detector, figures):
    colour = figures["groups"]["colour photographs"]
    assert len(colour["photos"]) == len(GROUPS["colour photographs"])
    for p in colour["photos"][:3]:
        source = next(q for q in GROUPS["colour photographs"] if q.file == p["file"])
        scanned = detector.scan(package_data_dir(source.package) / p["file"], provenance=False)
        assert scanned.score == pytest.approx(p["score"], abs=1e-5)


def test_group_summaries_count_the_photos_at_the_threshold(figures):
    for g in figures["groups"].values():
        for cond in ("clean", "jpeg75_resize0.5"):
            if "photos" not in g:
                continue
            key = "score" if cond == "clean" else "score_reencoded"
            scores = np.array([p[key] for p in g["photos"]])
            v = g[cond]
            assert v["n"] == len(scores) and v["flagged"] == int((scores >= 0.2).sum())
            assert v["near_threshold"] == int(((scores >= 0.1) & (scores < 0.2)).sum())
            assert v["max_score"] == pytest.approx(scores.max())
            assert v["flagged"] / v["n"] <= v["fpr_upper95"] <= 1
    assert figures["groups"]["LFW face thumbnails (25 px, grayscale)"]["clean"]["n"] == 100


def test_card_section_lists_every_photo_and_bolds_the_flagged(figures):
    text = "\n".join(_outside_reals({"outside_reals": figures}))
    assert "### Real photographs from outside the training data" in text
    for g in GROUPS.values():
        for p in g:
            assert f"`{p.file}`" in text
    photos = [p for g in figures["groups"].values() for p in g.get("photos", [])]
    flagged = [p for p in photos if p["score"] >= 0.2]
    assert flagged, "a threshold of 0.2 flags some of these photos"
    for p in flagged:
        assert f"**{p['score']:.3f}**" in text
    assert _outside_reals({}) == []


def test_the_caveats_name_the_photos_in_the_near_threshold_band_and_the_graphics_called_fake(figures):
    caveat = "\n".join(_outside_near_caveat({"outside_reals": figures}))
    photos = [p for name, g in figures["groups"].items() if name != GRAPHICS_GROUP for p in g.get("photos", [])]
    near = [p["file"] for p in photos if max(p["score"], p["score_reencoded"]) >= 0.1]
    far = [p["file"] for p in photos if max(p["score"], p["score_reencoded"]) < 0.1]
    assert near and all(f"`{f}`" in caveat for f in near)
    assert not any(f"`{f}`" in caveat for f in far)
    graphics = figures["groups"][GRAPHICS_GROUP]["photos"]
    called_fake = [p["file"] for p in graphics if p["score"] >= 0.2]
    assert called_fake and all(f"`{f}`" in caveat for f in called_fake)
    assert not any(f"`{p['file']}`" in caveat for p in graphics if p["score"] < 0.2)
    without_near = "\n".join(_outside_near_caveat({"outside_reals": {**figures, "near_from": None}}))
    assert "Real photos unlike" not in without_near and all(f"`{f}`" in without_near for f in called_fake)
    assert _outside_near_caveat({}) == []


def test_adding_to_a_card_of_another_model_is_refused(tmp_path):
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"model": "some-other-model", "threshold": 0.5}))
    done = subprocess.run([sys.executable, str(BENCHMARKS / "outside_reals.py"), "--card", str(card)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "the card is for some-other-model" in done.stderr
    assert json.loads(card.read_text()) == {"model": "some-other-model", "threshold": 0.5}


def test_format_caveat_names_the_fake_sets_jpeg_flips_often_most_first():
    from patch_card.render import _format_caveat

    card = {"control_format": {"real:a": {"verdict_flips": 0.5}, "fake:x": {"verdict_flips": 0.12},
                               "fake:y": {"verdict_flips": 0.8}, "fake:z": {"verdict_flips": 0.05}}}
    (line,) = _format_caveat(card)
    assert "fake:y 80%, fake:x 12% of their images" in line and "fake:z" not in line and "real:a" not in line
    assert _format_caveat({"control_format": {"fake:z": {"verdict_flips": 0.0}}}) == []
    assert _format_caveat({}) == []
