"""Every family: trains a few steps, samples uint8 NHWC, is deterministic, and survives save/load."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import generators
from tests.generators.gen_helpers import FAMILIES, TINY


def test_registry_lists_six_families():
    assert generators.list_generators() == ["dcgan", "diffusion", "glow", "gmm", "progan", "stylegan"]


def test_unknown_name_and_fields_are_clear_errors():
    with pytest.raises(KeyError, match="unknown generator 'nope'; available: dcgan"):
        generators.create_generator("nope")
    with pytest.raises(TypeError, match="unknown config field"):
        generators.create_generator("dcgan", widht=3)
    with pytest.raises(TypeError):
        generators.create_generator("dcgan", pretrained=True, resolution=8)


@pytest.mark.parametrize("name", FAMILIES)
def test_fit_and_sample_shape(name, trained):
    gen = trained[name]
    out = gen.sample(5, seed=0, device="cpu")
    assert out.shape == (5, 8, 8, 3) and out.dtype == np.uint8
    assert gen.provenance["steps"] == 3 and gen.history


@pytest.mark.parametrize("name", FAMILIES)
def test_same_seed_same_samples(name, trained):
    gen = trained[name]
    a = gen.sample(4, seed=7, device="cpu")
    assert np.array_equal(a, gen.sample(4, seed=7, device="cpu"))
    assert not np.array_equal(a, gen.sample(4, seed=8, device="cpu"))
    # image i depends only on (seed, i): a longer run and another batch size start with the same images
    b = gen.sample(6, seed=7, device="cpu", batch_size=3)
    assert np.abs(b[:4].astype(int) - a.astype(int)).max() <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", FAMILIES)
def test_cuda_samples_match_the_cpu(name):
    """The shipped generators sample the same images on a GPU as on the CPU (rounding: one level),
    with PyTorch's default TF32 flags left on (sampling runs in true fp32)."""
    gen = generators.load_generator(generators.default_weights_dir(name))
    a = gen.sample(16, seed=5, device="cpu")
    b = gen.sample(16, seed=5, device="cuda")
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


@pytest.mark.parametrize("name", FAMILIES)
def test_save_load_round_trip(name, trained, tmp_path):
    gen = trained[name]
    gen.save(tmp_path / "a")
    meta = json.loads((tmp_path / "a" / "config.json").read_text())
    assert meta["family"] == name and meta["config"]["resolution"] == 8 and meta["training"]["steps"] == 3
    assert meta["weights_id"] == gen.weights_id()
    g2 = generators.load_generator(tmp_path / "a")
    assert type(g2) is type(gen) and g2.weights_id() == gen.weights_id()
    g3 = generators.load_generator(g2.save(tmp_path / "b"))
    s2 = g2.sample(4, seed=1, device="cpu")
    assert np.array_equal(s2, g3.sample(4, seed=1, device="cpu"))
    # fp16 storage: the reloaded model is close to the in-memory fp32 one
    assert np.abs(s2.astype(float) - gen.sample(4, seed=1, device="cpu")).mean() < 3.0


def test_load_refuses_pickles_and_missing(tmp_path, trained):
    for bad in ("model.pt", "model.pkl", "x.pth"):
        with pytest.raises(ValueError, match="pickled checkpoints"):
            generators.load_generator(tmp_path / bad)
    with pytest.raises(FileNotFoundError):
        generators.load_generator(tmp_path / "missing")
    d = trained["gmm"].save(tmp_path / "g")
    with pytest.raises(ValueError, match="holds a 'gmm' generator"):
        generators.get_generator_class("dcgan").load(d)


def test_fit_from_folder_crops_and_resizes(tmp_path, images):
    for i, im in enumerate(images[:6]):
        Image.fromarray(im).resize((10, 14)).save(tmp_path / f"{i}.png")
    gen = generators.create_generator("gmm", **TINY["gmm"]).fit(tmp_path, steps=2, progress=False)
    assert gen.provenance["n_images"] == 6 and gen.sample(2, seed=0).shape == (2, 8, 8, 3)
    with pytest.raises(FileNotFoundError):
        gen.fit(tmp_path / "nope", steps=1)


def test_glow_is_invertible(trained):
    import torch
    net = trained["glow"].net.double()
    try:
        x = torch.rand(3, 3, 8, 8, dtype=torch.float64) - 0.5
        with torch.no_grad():
            back = net.reverse(net.encode(x), temperature=1.0)
        assert torch.allclose(back, x, atol=1e-6)
    finally:
        net.float()


def test_checkpoints_and_time_budget(images, tmp_path):
    gen = generators.create_generator("diffusion", **TINY["diffusion"])
    gen.fit(images, steps=4, progress=False, device="cpu", checkpoint_dir=tmp_path / "ck", checkpoint_every=2)
    meta = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert meta["training"]["steps"] == 4 and meta["training"]["finished"] is False
    assert len(json.loads((tmp_path / "ck" / "history.json").read_text())["loss"]) == 4
    assert generators.load_generator(tmp_path / "ck").sample(1, seed=0).shape == (1, 8, 8, 3)
    assert gen.provenance["finished"] is True and gen.provenance["total_steps"] == 4
    # a time budget stops training early and records the steps actually done
    gen.fit(images, steps=10_000, progress=False, device="cpu", max_seconds=0.0)
    assert gen.provenance["steps"] == 1 and gen.provenance["requested_steps"] == 10_000
    assert gen.provenance["total_steps"] == 5
