"""Fixtures shared by the detector-training tests."""
import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def folders(tmp_path_factory, photos):
    """Real: crops of real photos. Fake: the same crops with a planted period-4 checkerboard
    (the classic transposed-convolution trace)."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for label in ("real", "fake"):
        (root / label).mkdir()
    k = 0
    yy, xx = np.mgrid[0:64, 0:64]
    pattern = np.where((yy // 2 + xx // 2) % 2 == 0, 24, -24)[:, :, None]
    for rgb in photos.values():
        for _ in range(6):
            y, x = rng.integers(0, rgb.shape[0] - 64), rng.integers(0, rgb.shape[1] - 64)
            crop = rgb[y:y + 64, x:x + 64].copy()
            Image.fromarray(crop).save(root / "real" / f"{k}.png")
            fake = np.clip(crop.astype(np.int16) + pattern, 0, 255).astype(np.uint8)
            Image.fromarray(fake).save(root / "fake" / f"{k}.png")
            k += 1
    return root
