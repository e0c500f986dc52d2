"""Per-image overlays: map alignment, title with score and verdict, a readable PNG with a colour bar."""
import numpy as np
from PIL import Image

from forensics.overlay import overlay_name, overlay_title, render_overlay, upsample_map


def test_upsample_map_keeps_the_hot_cell_in_place():
    probs = np.zeros((8, 8), np.float32)
    probs[1, 6] = 1.0
    big = upsample_map(probs, 32, 32, stride=4)
    assert big.shape == (32, 32)
    y, x = np.unravel_index(int(np.argmax(big)), big.shape)
    assert 3 <= y <= 7 and 24 <= x <= 28
    assert np.ptp(upsample_map(np.full((1, 1), 0.3), 5, 7, stride=4)) == 0
    assert upsample_map(probs, 40, 37, stride=4).shape == (40, 37)  # grid shorter than the image: edge-extended


def test_title_has_score_and_verdict():
    t = overlay_title(0.91234, "fake", 0.5)
    assert "0.912" in t and "FAKE" in t and "threshold 0.500" in t
    assert overlay_title(0.1, None) == "P(fake) = 0.100"


def test_render_overlay_writes_an_image_with_a_colour_bar(tmp_path):
    rgb = np.full((64, 96, 3), 128, np.uint8)
    probs = np.zeros((16, 24), np.float32)
    probs[:4, :4] = 1.0
    out = render_overlay(rgb, probs, 4, tmp_path / "o.png", score=0.7, label="fake", threshold=0.5, dpi=60)
    im = np.asarray(Image.open(out).convert("RGB"))
    assert im.shape[0] > 100 and im.shape[1] > im.shape[0]
    # the inferno colour bar spans dark purple to pale yellow: both ends must be somewhere on the figure
    yellow = (im[..., 0] > 230) & (im[..., 1] > 200) & (im[..., 2] < 150)
    dark = (im[..., 0] < 40) & (im[..., 1] < 20) & (im[..., 2] < 60)
    assert yellow.sum() > 20 and dark.sum() > 20
    assert overlay_name("/a/b/../x y.png", 3) == "00003_x_y_heatmap.png"
