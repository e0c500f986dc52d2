"""The pixel-space denoiser that re-draws real photos' finest detail as aligned fakes (generators.denoiser)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from generators.denoiser import (Denoiser, DenoiserConfig, fit_denoiser, load_denoiser, redraw, save_denoiser,
                                 schedule)

SMALL = DenoiserConfig(width=8)


@pytest.fixture(scope="module")
def fitted(photo_files):
    return fit_denoiser(photo_files, steps=120, batch=4, crop=32, lr=3e-3, config=SMALL, device="cpu", progress=False)


def noise_error(model: Denoiser, rgb: np.ndarray, sigma: float) -> float:
    """Mean squared error of the model's noise prediction on `rgb` (in [-1, 1]) noised at `sigma`."""
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(127.5).sub(1.0)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return float(((model(x + sigma * noise, torch.tensor([sigma])) - noise) ** 2).mean())


def test_training_teaches_the_network_to_find_the_noise_in_a_real_photo(fitted, photo_files):
    rgb = np.asarray(Image.open(photo_files[0]).convert("RGB"))[:64, :64]
    torch.manual_seed(0)
    untrained = Denoiser(SMALL).eval()
    assert noise_error(fitted, rgb, 0.2) < 0.85 * noise_error(untrained, rgb, 0.2)  # 0.75 against 1.02


@pytest.mark.parametrize("shape", [(37, 53, 3), (8, 8, 3), (120, 91, 3)])
def test_a_redrawn_image_keeps_any_size_and_is_8_bit(fitted, shape):
    rgb = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = redraw(fitted, rgb, sigma=0.1)
    assert out.shape == shape and out.dtype == np.uint8


def test_redrawing_keeps_the_picture_changes_its_detail_and_repeats_with_its_seed(fitted, photo_files):
    rgb = np.asarray(Image.open(photo_files[0]).convert("RGB"))
    a, b = redraw(fitted, rgb, sigma=0.1, seed=3), redraw(fitted, rgb, sigma=0.1, seed=3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, redraw(fitted, rgb, sigma=0.1, seed=4))
    diff = np.abs(a.astype(np.int16) - rgb)
    assert 0 < diff.mean() < 20  # the detail changes, the picture stays (noise of level 0.1 is 12.75 grey levels)


def test_the_noise_schedule_halves_down_from_sigma_and_rejects_nonsense():
    assert schedule(0.1, 3) == pytest.approx([0.1, 0.05, 0.025])
    assert schedule(0.2, 1) == [0.2]
    for sigma, steps in ((0.0, 3), (0.1, 0)):
        with pytest.raises(ValueError, match="redraw needs sigma > 0 and steps >= 1"):
            schedule(sigma, steps)


def test_a_bad_config_is_refused():
    with pytest.raises(ValueError, match="denoiser width must be positive"):
        DenoiserConfig(width=0)
    with pytest.raises(ValueError, match="sigma_range"):
        DenoiserConfig(sigma_range=(0.5, 0.1))


def test_save_and_load_round_trip_without_pickle(fitted, tmp_path, photo_files):
    save_denoiser(fitted, tmp_path / "dn")
    assert json.loads((tmp_path / "dn" / "config.json").read_text())["family"] == "denoiser"
    back = load_denoiser(tmp_path / "dn", device="cpu")
    rgb = np.asarray(Image.open(photo_files[1]).convert("RGB"))
    assert np.array_equal(redraw(fitted, rgb, seed=5), redraw(back, rgb, seed=5))


def test_loading_another_models_folder_fails_clearly(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"family": "latent_autoencoder"}))
    with pytest.raises(ValueError, match="not a denoiser"):
        load_denoiser(tmp_path)
