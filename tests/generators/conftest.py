"""Fixtures for the generator tests (tiny configs live in gen_helpers.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.generators.gen_helpers import FAMILIES, TINY, synthetic_images


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def images() -> np.ndarray:
    return synthetic_images()


@pytest.fixture(scope="session")
def trained(images):
    """One tiny generator per family, trained for 3 steps (shared by tests that only sample)."""
    import generators
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return {name: generators.create_generator(name, **TINY[name]).fit(images, steps=3, device="cpu", progress=False)
            for name in FAMILIES}
