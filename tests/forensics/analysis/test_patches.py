"""Top patches: receptive-field windows, zero padding at borders, one per image, grids."""
import numpy as np

from forensics.analysis.patches import (Geometry, best_cell, extract_window, patch_grid, random_cells, select_top,
                                        top_patch)


def test_extract_window_zero_pads_outside_the_image():
    img = np.arange(10 * 10 * 3, dtype=np.uint8).reshape(10, 10, 3) + 1
    w = extract_window(img, (-3, -2, 4, 5))  # x0, y0, x1, y1
    assert w.shape == (7, 7, 3)
    assert (w[:2] == 0).all() and (w[:, :3] == 0).all()
    assert (w[2:, 3:] == img[0:5, 0:4]).all()
    far = extract_window(img, (20, 20, 25, 25))
    assert far.shape == (5, 5, 3) and not far.any()


def test_geometry_windows_and_valid_cells():
    g = Geometry(stride=4, receptive_field=9, offset=-4)
    assert g.window(0, 0) == (-4, -4, 5, 5)
    assert g.centre(2, 3) == (8.0, 12.0)
    valid = g.valid_cells((10, 10), 32, 32)  # centres 0..36: the last two rows/cols are past the image
    assert valid[:8, :8].all() and not valid[8:, :].any() and not valid[:, 8:].any()


def test_top_patch_uses_confidence_of_the_true_class():
    probs = np.full((8, 8), 0.5)
    probs[2, 5] = 0.99   # most fake
    probs[6, 1] = 0.01   # most real
    img = np.zeros((32, 32, 3), np.uint8)
    g = Geometry(4, 9, -2)
    fake = top_patch(img, probs, g, is_real=False)
    real = top_patch(img, probs, g, is_real=True)
    assert fake.cell == (2, 5) and abs(fake.confidence - 0.99) < 1e-9
    assert real.cell == (6, 1) and abs(real.confidence - 0.99) < 1e-9
    assert fake.window.shape == (9, 9, 3)
    assert best_cell(probs, False, valid=np.ones_like(probs, bool) & (probs < 0.9))[:2] != (2, 5)


def test_select_top_and_grid():
    img = np.full((16, 16, 3), 200, np.uint8)
    g = Geometry(4, 5, 0)
    patches = []
    for k, conf in enumerate([0.6, 0.9, 0.7]):
        probs = np.zeros((4, 4))
        probs[1, 1] = conf
        patches.append(top_patch(img, probs, g, is_real=False, image_index=k))
    best = select_top(patches, 2)
    assert [p.image_index for p in best] == [1, 2]
    grid = patch_grid([p.window for p in patches], ncols=2, pad=1)
    assert grid.shape == (2 * 6 + 1, 2 * 6 + 1, 3) and grid.dtype == np.uint8


def test_random_cells_stay_in_valid_cells():
    rng = np.random.default_rng(0)
    g = Geometry(4, 9, -4)
    cells = random_cells((10, 10), g, 32, 32, 200, rng)
    assert all(0 <= i < 8 and 0 <= j < 8 for i, j in cells)
    assert len({c for c in cells}) > 30
