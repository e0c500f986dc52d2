"""Mean heatmaps on synthetic cell maps whose answer is known."""
import numpy as np
import pytest

from forensics.analysis.heatmaps import (add_differences, extreme_indices, mean_heatmap, peak_location,
                                         plot_mean_heatmaps, quadrant_means, resize_map, set_heatmaps)


def corner_map(rng, shape, corner="bottom-right", level=0.9):
    """Background P(fake) ~0.2 with noise, `level` in one quarter-size corner."""
    h, w = shape
    m = np.clip(0.2 + rng.normal(0, 0.1, shape), 0, 1)
    ys = slice(h - h // 4, h) if "bottom" in corner else slice(0, h // 4)
    xs = slice(w - w // 4, w) if "right" in corner else slice(0, w // 4)
    m[ys, xs] = level
    return m


def test_resize_map_keeps_image_relative_position():
    m = np.zeros((8, 8), np.float32)
    m[0, 7] = 1.0
    big = resize_map(m, 64)
    assert big.shape == (64, 64)
    y, x = peak_location(big)
    assert y < 0.15 and x > 0.85
    assert resize_map(np.full((1, 1), 0.3), 16).std() == 0


def test_resize_map_rejects_bad_input():
    with pytest.raises(ValueError):
        resize_map(np.zeros((0, 3)))


def test_mean_heatmap_of_planted_corner_peaks_in_that_corner():
    rng = np.random.default_rng(0)
    # maps of images of different sizes (different grids) must still agree on the corner
    maps = [corner_map(rng, shape) for shape in [(8, 8), (16, 12), (32, 32), (24, 40)] * 10]
    heat = mean_heatmap(maps, size=64)
    y, x = peak_location(heat)
    assert y > 0.75 and x > 0.75
    q = quadrant_means(heat)
    assert max(q, key=q.get) == "bottom-right"


def test_easiest_and_hardest_and_difference_to_reals():
    rng = np.random.default_rng(1)
    levels = np.linspace(0.3, 1.0, 20)
    fake_maps = [corner_map(rng, (16, 16), "top-left", level) for level in levels]
    fake_scores = list(levels)  # image score grows with the planted level
    real_maps = [np.clip(0.2 + rng.normal(0, 0.1, (16, 16)), 0, 1) for _ in range(20)]
    real_scores = [float(m.mean()) for m in real_maps]
    easy, hard = extreme_indices(fake_scores, False, 5)
    assert set(easy) == set(range(15, 20)) and set(hard) == set(range(5))
    easy_r, _ = extreme_indices(real_scores, True, 3)  # easiest reals = lowest P(fake)
    assert set(easy_r) == set(np.argsort(real_scores)[:3])

    fake = set_heatmaps("gan", fake_maps, fake_scores, is_real=False, size=32, n_extreme=5)
    real = set_heatmaps("real", real_maps, real_scores, is_real=True, size=32, n_extreme=5)
    assert fake.easiest.max() > fake.hardest.max()
    add_differences({"gan": fake, "real": real}, ["real"])
    y, x = peak_location(fake.difference)
    assert y < 0.25 and x < 0.25
    assert abs(real.difference).max() < 1e-6
    s = fake.summary()
    assert s["quadrants"]["top-left"] > s["quadrants"]["bottom-right"]
    assert s["difference_to_real"]["max"] > 0.3


def test_set_heatmaps_validates_lengths():
    with pytest.raises(ValueError):
        set_heatmaps("x", [np.zeros((4, 4))], [0.1, 0.2], is_real=False)
    with pytest.raises(ValueError):
        set_heatmaps("x", [], [], is_real=False)


def test_plot_mean_heatmaps_writes_png(tmp_path):
    rng = np.random.default_rng(2)
    maps = [corner_map(rng, (8, 8)) for _ in range(6)]
    a = set_heatmaps("a", maps, [m.mean() for m in maps], is_real=False, size=16, n_extreme=2,
                     mean_image=np.zeros((16, 16, 3), np.uint8))
    b = set_heatmaps("r", maps, [m.mean() for m in maps], is_real=True, size=16, n_extreme=2)
    add_differences({"a": a, "r": b}, ["r"])
    p = plot_mean_heatmaps([a, b], tmp_path / "f.png", title="t")
    assert p.stat().st_size > 1000 and p.read_bytes()[:4] == b"\x89PNG"
