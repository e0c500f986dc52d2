"""The one-pass analysis on synthetic sets whose fakes carry artifacts planted in the top-left corner."""
import json

import pytest

from forensics.analysis.heatmaps import peak_location
from forensics.analysis.pipeline import ImageSet, analyze_sets, parse_named_dirs


@pytest.fixture
def analysis(detector, toy_folders):
    sets = [ImageSet.from_folder("gan", toy_folders["fake"], is_real=False),
            ImageSet.from_folder("real", toy_folders["real"], is_real=True)]
    return analyze_sets(detector, sets, size=32, n_extreme=4, top_k=8, n_random=8, progress=False)


def test_mean_heatmap_peaks_where_the_artifacts_were_planted(analysis):
    gan = analysis.sets["gan"].heatmaps
    y, x = peak_location(gan.mean)
    assert y < 0.35 and x < 0.35
    q = gan.summary()["quadrants"]
    assert max(q, key=q.get) == "top-left"
    dy, dx = peak_location(gan.difference)
    assert dy < 0.35 and dx < 0.35
    assert analysis.sets["real"].heatmaps.mean.max() < gan.mean.max()


def test_top_patches_land_on_the_planted_region_more_often_than_random(analysis):
    gan = analysis.sets["gan"]
    rows = {r["region"]: r for r in gan.regions["grid3x3"].table()}
    assert rows["top-left"]["top_share"] >= 0.8
    assert rows["top-left"]["top_share"] > 3 * rows["top-left"]["random_share"]
    tex = {r["region"]: r for r in gan.regions["texture"].table()}
    assert tex["detailed"]["top_share"] > tex["detailed"]["random_share"]
    assert len(gan.top) == 8 and all(p.window.shape == (9, 9, 3) for p in gan.top)
    assert all(p.box[0] < 24 and p.box[1] < 24 for p in gan.top)


def test_scores_results_and_written_outputs(analysis, tmp_path):
    assert analysis.sets["gan"].scores.mean() > analysis.sets["real"].scores.mean()
    r = analysis.sets["gan"].results[0]
    assert r.label in ("real", "fake") and r.width == 64 and r.model == "stub-highfreq"
    paths = analysis.write(tmp_path / "out")
    assert {"mean_heatmaps", "top_patches", "regions", "spectra", "analysis"} <= set(paths)
    data = json.loads(paths["analysis"].read_text())
    assert data["sets"]["gan"]["n"] == 24 and data["real_sets"] == ["real"]
    assert data["sets"]["gan"]["heatmap"]["difference_to_real"]["max"] > 0.2
    assert data["figures"]["mean_heatmaps"] == "mean_heatmaps.png"


def test_limit_errors_and_named_dirs(detector, toy_folders, tmp_path):
    (toy_folders["fake"] / "broken.png").write_bytes(b"not an image")
    s = ImageSet.from_folder("gan", toy_folders["fake"], is_real=False, limit=5)
    assert len(s.paths) == 5
    a = analyze_sets(detector, [ImageSet.from_folder("gan", toy_folders["fake"], is_real=False)], size=16,
                     progress=False)
    assert a.sets["gan"].n == 24 and len(a.sets["gan"].errors) == 1
    assert "no real set" in a.notes[0]
    assert parse_named_dirs([f"x={toy_folders['real']}", str(toy_folders["fake"])]) == [
        ("x", toy_folders["real"]), ("fake", toy_folders["fake"])]
    for bad in (["=x"], [f"a={tmp_path / 'nope'}"], [f"a={toy_folders['real']}", f"a={toy_folders['fake']}"]):
        with pytest.raises(ValueError):
            parse_named_dirs(bad)
