"""Default (full-size) configs on real CelebA faces: a couple of steps each (slow; skipped without data)."""
from __future__ import annotations

import numpy as np
import pytest

import generators
from generators._common import load_images
from tests.generators.gen_helpers import DATA, FAMILIES

CELEBA = DATA / "real" / "celeba" / "train"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CELEBA.is_dir(), reason="shared CelebA faces not available")]


@pytest.mark.parametrize("name", FAMILIES)
def test_default_config_trains_on_real_faces(name, tmp_path):
    gen = generators.create_generator(name)
    faces = load_images(CELEBA, gen.resolution, limit=64)
    gen.fit(faces, steps=2, device="cpu", progress=False, checkpoint_dir=tmp_path, checkpoint_every=1)
    if name == "diffusion":
        gen.config.sample_steps = 3
    out = gen.sample(3, seed=0, device="cpu")
    assert out.shape == (3, gen.resolution, gen.resolution, 3) and out.dtype == np.uint8
    assert generators.load_generator(tmp_path).weights_id() is not None
