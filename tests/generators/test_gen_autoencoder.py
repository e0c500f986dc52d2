"""The latent autoencoder that rebuilds real photos as aligned fakes (generators.autoencoder)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from generators.autoencoder import (AutoencoderConfig, LatentAutoencoder, fit_autoencoder, load_autoencoder,
                                    reconstruct, save_autoencoder)

SMALL = AutoencoderConfig(widths=(8, 16), latent=8)


def mean_error(model: LatentAutoencoder, rgb: np.ndarray) -> float:
    return float(np.abs(reconstruct(model, rgb).astype(np.int16) - rgb).mean())


@pytest.fixture(scope="module")
def fitted(photo_files):
    return fit_autoencoder(photo_files, steps=100, batch=4, crop=32, lr=3e-3, config=SMALL, device="cpu", progress=False)


def test_training_lowers_the_reconstruction_error_of_a_real_photo(fitted, photo_files):
    rgb = np.asarray(Image.open(photo_files[0]).convert("RGB"))
    import torch
    torch.manual_seed(0)
    untrained = LatentAutoencoder(SMALL).eval()
    assert mean_error(fitted, rgb) < 0.7 * mean_error(untrained, rgb)


@pytest.mark.parametrize("shape", [(37, 53, 3), (8, 8, 3), (300, 451, 3)])
def test_reconstruction_keeps_any_image_size(fitted, shape):
    rgb = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = reconstruct(fitted, rgb)
    assert out.shape == shape and out.dtype == np.uint8


def test_the_latent_is_eight_times_smaller_and_decoded_with_nearest_upsampling():
    import torch
    model = LatentAutoencoder(AutoencoderConfig())
    assert model.config.factor == 8
    assert model.encoder(torch.zeros(1, 3, 64, 96)).shape == (1, 8, 8, 12)
    assert all(m.mode == "nearest" for m in model.decoder if isinstance(m, torch.nn.Upsample))


def test_save_and_load_give_the_same_reconstruction_without_pickle(fitted, photo_files, tmp_path):
    d = save_autoencoder(fitted, tmp_path / "ae")
    assert sorted(p.name for p in d.iterdir()) == ["config.json", "model.safetensors"]
    rgb = np.asarray(Image.open(photo_files[1]).convert("RGB"))
    assert np.array_equal(reconstruct(load_autoencoder(d, device="cpu"), rgb), reconstruct(fitted, rgb))


def test_loading_another_family_fails_with_the_file_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"family": "dcgan"}))
    with pytest.raises(ValueError, match="config.json: not a latent autoencoder"):
        load_autoencoder(tmp_path, device="cpu")


@pytest.mark.parametrize("widths, latent", [((8, 0), 4), ((), 4), ((8, 16), 0)])
def test_an_empty_shape_is_refused(widths, latent):
    with pytest.raises(ValueError, match="must be positive"):
        AutoencoderConfig(widths=widths, latent=latent)


def test_fitting_on_images_smaller_than_the_crop_is_an_error(tmp_path):
    p = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(p)
    with pytest.raises(ValueError, match="no image of at least 32 px"):
        fit_autoencoder([p], steps=1, crop=32, config=SMALL, device="cpu", progress=False)


def test_colour_matching_gives_each_channel_the_photo_s_mean_and_spread(fitted, photo_files):
    rgb = np.asarray(Image.open(photo_files[2]).convert("RGB"))
    out = reconstruct(fitted, rgb, match_colour=True).astype(float)
    assert np.allclose(out.mean((0, 1)), rgb.mean((0, 1)), atol=1.5)
    assert np.allclose(out.std((0, 1)), rgb.std((0, 1)), rtol=0.05)


@pytest.mark.parametrize("kind", ["nearest", "bilinear", "transposed", "pixelshuffle"])
def test_every_upsampling_kind_decodes_back_to_the_image_size(kind):
    import torch
    model = LatentAutoencoder(AutoencoderConfig(widths=(8, 16, 16), latent=4, upsample=kind)).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 32, 40)).shape == (1, 3, 32, 40)
    rgb = np.random.default_rng(0).integers(0, 256, (30, 45, 3), dtype=np.uint8)
    assert reconstruct(model, rgb).shape == (30, 45, 3)


def test_the_upsampling_kinds_are_different_layers():
    import torch
    layers = {kind: LatentAutoencoder(AutoencoderConfig(widths=(8, 16), latent=4, upsample=kind)).decoder[2]
              for kind in ("nearest", "bilinear", "transposed", "pixelshuffle")}
    assert layers["nearest"].mode == "nearest" and layers["bilinear"].mode == "bilinear"
    assert isinstance(layers["transposed"], torch.nn.ConvTranspose2d)
    assert any(isinstance(m, torch.nn.PixelShuffle) for m in layers["pixelshuffle"].modules())


def test_an_unknown_upsampling_kind_is_refused():
    with pytest.raises(ValueError, match="upsample must be one of nearest, bilinear, transposed, pixelshuffle"):
        AutoencoderConfig(upsample="cubic")


def test_the_upsampling_kind_survives_save_and_load(tmp_path):
    model = LatentAutoencoder(AutoencoderConfig(widths=(8, 16), latent=4, upsample="transposed")).eval()
    loaded = load_autoencoder(save_autoencoder(model, tmp_path / "ae"), device="cpu")
    assert loaded.config.upsample == "transposed"
    rgb = np.random.default_rng(1).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    assert np.array_equal(reconstruct(loaded, rgb), reconstruct(model, rgb))
