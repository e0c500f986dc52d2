"""Synthetic image sets with planted artifacts, and a tiny hand-made patch detector for them."""
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from forensics.aggregate import ScoreRule


@dataclass(frozen=True)
class StubCellMap:
    fake_logit: np.ndarray
    stride: int
    receptive_field: int
    offset: int

    @property
    def probabilities(self):
        return 1.0 / (1.0 + np.exp(-self.fake_logit))

    def cell_box(self, i, j, height, width):
        y0, x0 = i * self.stride + self.offset, j * self.stride + self.offset
        return (max(0, x0), max(0, y0), min(width, x0 + self.receptive_field), min(height, y0 + self.receptive_field))


class HighFrequencyDetector:
    """A fixed 'patch classifier': the fake logit of a cell grows with the high-frequency energy of its
    9x9 window (stride 4), i.e. it flags the planted noise artifacts and nothing else."""

    model_id = "stub-highfreq"
    threshold = 0.5
    score_rule = ScoreRule()
    stride, receptive_field, offset = 4, 9, -2

    def cell_map(self, rgb):
        g = np.asarray(rgb, np.float32).mean(axis=2)
        lap = np.abs(cv2.Laplacian(g, cv2.CV_32F, ksize=3))
        e = cv2.blur(lap, (self.receptive_field, self.receptive_field))
        cells = e[::self.stride, ::self.stride]
        return StubCellMap((cells - 12.0) / 3.0, self.stride, self.receptive_field, self.offset)


def smooth_image(rng, size=64):
    """A smooth random colour field (no high frequencies): the 'real' look of this toy world."""
    small = rng.uniform(40, 215, (6, 6, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def plant_corner_noise(img, rng, frac=0.3, amp=40):
    """Fake artifacts in the top-left corner: strong pixel noise in a frac x frac square."""
    out = img.astype(np.float32)
    k = int(img.shape[0] * frac)
    out[:k, :k] += rng.normal(0, amp, (k, k, 3))
    return np.clip(out, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def toy_sets():
    rng = np.random.default_rng(0)
    reals = [smooth_image(rng) for _ in range(24)]
    fakes = [plant_corner_noise(smooth_image(rng), rng) for _ in range(24)]
    return reals, fakes


@pytest.fixture
def detector():
    return HighFrequencyDetector()


@pytest.fixture
def toy_folders(toy_sets, tmp_path):
    """The toy sets written as PNG folders: tmp/real, tmp/fake."""
    from PIL import Image

    reals, fakes = toy_sets
    dirs = {}
    for name, ims in (("real", reals), ("fake", fakes)):
        d = tmp_path / name
        d.mkdir()
        for i, im in enumerate(ims):
            Image.fromarray(im).save(d / f"{i:03d}.png")
        dirs[name] = d
    return dirs
