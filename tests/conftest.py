"""Shared fixtures: real photographs from installed packages, ../shared/data when present."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data(rel: str) -> Path:
    """Path under ../shared/data; skips the test when it is absent."""
    p = SHARED_DATA / rel
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Real colour photographs shipped inside scikit-image / scikit-learn."""
    from forensics.demo_data import real_photos

    return real_photos()


@pytest.fixture(scope="session")
def photo_files(tmp_path_factory, photos) -> list[Path]:
    from PIL import Image

    d = tmp_path_factory.mktemp("photos")
    out = []
    for name, rgb in list(photos.items())[:4]:
        p = d / f"{name}.png"
        Image.fromarray(rgb).save(p)
        out.append(p)
    return out


@pytest.fixture(scope="session")
def detector():
    from forensics import Detector

    return Detector.load("patch", device="cpu")  # the patch model the fused default builds on


@pytest.fixture
def one_torch_thread():
    """Tests that share a small machine with other work: one intra-op torch thread, restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
