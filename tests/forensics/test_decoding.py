"""Transparent pixels are not scored as content: the decoder crops to the visible area and says so."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from forensics.decoding import ImageDecodeError, decode_bytes


def _png(rgb: np.ndarray, alpha: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.dstack([rgb, alpha])).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo(photos):
    return photos["astronaut"]


def test_transparent_margins_are_cropped_and_the_score_is_the_visible_photos(photo, detector):
    h, w = photo.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    alpha[h // 6:5 * h // 6, w // 6:5 * w // 6] = 255  # a photo pasted on a transparent canvas
    data = _png(photo, alpha)
    rgb, fmt, notes = decode_bytes(data)
    visible = photo[h // 6:5 * h // 6, w // 6:5 * w // 6]
    assert fmt == "PNG" and np.array_equal(rgb, visible)
    assert len(notes) == 1 and notes[0].startswith("transparent pixels: 56% of the image; scored the visible area")
    r = detector.scan(data, provenance=False)
    assert r.score == detector.score(visible) and (r.width, r.height) == visible.shape[1::-1]
    white = np.where(alpha[..., None] > 0, photo, 255).astype(np.uint8)  # what was scored before
    assert abs(detector.score(white) - r.score) > 0.03


def test_transparent_pixels_inside_the_visible_box_get_a_note(photo):
    h, w = photo.shape[:2]
    alpha = np.full((h, w), 255, np.uint8)
    alpha[h // 3:2 * h // 3, w // 3:2 * w // 3] = 0
    rgb, _, notes = decode_bytes(_png(photo, alpha))
    assert rgb.shape == photo.shape and (rgb[h // 2, w // 2] == 255).all()
    assert len(notes) == 1 and "11% of the scored area, composited over white" in notes[0]


def test_opaque_alpha_changes_nothing_and_a_fully_transparent_image_is_refused(photo):
    h, w = photo.shape[:2]
    rgb, _, notes = decode_bytes(_png(photo, np.full((h, w), 255, np.uint8)))
    assert np.array_equal(rgb, photo) and notes == ()
    with pytest.raises(ImageDecodeError, match="fully transparent"):
        decode_bytes(_png(photo, np.zeros((h, w), np.uint8)))
