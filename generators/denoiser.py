"""A small pixel-space denoiser whose re-noised-and-denoised real photos are 'aligned' pixel-diffusion fakes.

Pixel-space diffusion models (DDPM, NCSN, score-SDE, the upsampling stages of DALL-E 2 and DeepFloyd IF)
draw every pixel's fine detail in their last denoising steps: from a small noise level down to none,
a network that was trained to predict the noise repaints what lies below that level. Passing a real
photo through those last steps (add noise of level `sigma`, then walk the level down to 0 with the
denoiser, fresh noise at each step: SDEdit, Meng et al. 2022) keeps its content, framing and colours
and replaces only its finest texture by what a denoiser draws. Pairs of (photo, its re-drawn copy)
teach a detector those traces without any cue from what is pictured. The network is a small U-Net
(one 2x down- and upsampling, a noise-level input channel), trained here on crops of real photos.

    dn = fit_denoiser(paths, steps=1200)
    fake = redraw(dn, rgb_uint8, sigma=0.08, seed=0)     # same shape as the input
    save_denoiser(dn, "runs/dn"); dn = load_denoiser("runs/dn")
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._common import resolve_device
from ._crop_training import fit_on_crops, read_small_model, save_small_model, to_tensor


@dataclass(frozen=True)
class DenoiserConfig:
    """`width` channels at full size (twice that at half size); noise levels drawn log-uniformly from
    `sigma_range` in training (image values in [-1, 1])."""
    width: int = 32
    sigma_range: tuple[float, float] = (0.01, 0.4)

    def __post_init__(self) -> None:
        lo, hi = self.sigma_range
        if self.width <= 0 or not 0 < lo < hi:
            raise ValueError(f"denoiser width must be positive and 0 < sigma_range[0] < sigma_range[1], "
                             f"got width {self.width}, sigma_range {self.sigma_range}")


class Denoiser(nn.Module):
    """Predicts the noise in a noisy image, given its level: a two-level U-Net with a skip connection."""

    def __init__(self, config: DenoiserConfig = DenoiserConfig()):
        super().__init__()
        self.config = config
        w = config.width
        act = nn.SiLU
        self.inp = nn.Sequential(nn.Conv2d(4, w, 3, padding=1), act(), nn.Conv2d(w, w, 3, padding=1), act())
        self.down = nn.Sequential(nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), act(),
                                  nn.Conv2d(2 * w, 2 * w, 3, padding=1), act(), nn.Conv2d(2 * w, 2 * w, 3, padding=1), act())
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(2 * w, w, 3, padding=1), act())
        self.out = nn.Sequential(nn.Conv2d(2 * w, w, 3, padding=1), act(), nn.Conv2d(w, 3, 3, padding=1))

    def forward(self, noisy: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Predicted unit-variance noise of `noisy` (N, 3, H, W; H and W even) at levels `sigma` (N,)."""
        level = torch.log(sigma).view(-1, 1, 1, 1).expand(-1, 1, *noisy.shape[2:])
        a = self.inp(torch.cat([noisy, level], dim=1))
        return self.out(torch.cat([a, self.up(self.down(a))], dim=1))


def fit_denoiser(paths: Sequence[Path], *, steps: int = 1200, batch: int = 12, crop: int = 64, lr: float = 2e-3,
                 config: DenoiserConfig = DenoiserConfig(), seed: int = 0, device: str = "auto",
                 progress: bool = True) -> Denoiser:
    """Train on random `crop`-px crops of the images at `paths` (native resolution, flips) to predict the
    added noise (MSE), at levels drawn log-uniformly from `config.sigma_range`."""
    lo, hi = np.log(config.sigma_range)

    def loss_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        sigma = torch.exp(torch.empty(len(x), device=x.device).uniform_(float(lo), float(hi)))
        noise = torch.randn_like(x)
        return F.mse_loss(model(x + sigma.view(-1, 1, 1, 1) * noise, sigma), noise)

    return fit_on_crops(lambda: Denoiser(config), loss_of, paths, steps=steps, batch=batch, crop=crop, lr=lr,
                        seed=seed, device=device, progress=progress, label="denoiser")


def schedule(sigma: float, steps: int) -> list[float]:
    """Noise levels from `sigma` down, geometric, `steps` of them (the last step lands on 0)."""
    if sigma <= 0 or steps < 1:
        raise ValueError(f"redraw needs sigma > 0 and steps >= 1, got {sigma}, {steps}")
    return [float(s) for s in np.geomspace(sigma, sigma / 2 ** (steps - 1), steps)]


@torch.no_grad()
def redraw(model: Denoiser, rgb: np.ndarray, *, sigma: float = 0.08, steps: int = 3, seed: int = 0) -> np.ndarray:
    """One uint8 HxWx3 image with its detail below noise level `sigma` re-drawn by the denoiser: noise of
    level `sigma` added, then `steps` denoising steps down the `schedule`, fresh noise at each level
    (seeded, so the same image and seed give the same result). Same shape as the input."""
    h, w = rgb.shape[:2]
    padded = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    dev = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    clean = to_tensor(padded)[None].to(dev)
    levels = schedule(sigma, steps)
    x = clean + levels[0] * torch.randn(clean.shape, generator=gen).to(dev)
    for i, s in enumerate(levels):
        x0 = x - s * model(x, torch.tensor([s], device=dev))
        nxt = levels[i + 1] if i + 1 < len(levels) else 0.0
        x = x0 + nxt * torch.randn(clean.shape, generator=gen).to(dev) if nxt else x0
    out = x[0, :, :h, :w].add(1.0).mul(127.5)
    return out.round().clamp(0, 255).byte().permute(1, 2, 0).cpu().numpy()


def save_denoiser(model: Denoiser, directory: str | Path) -> Path:
    """Write `model.safetensors` and `config.json` to `directory`."""
    return save_small_model(model, directory, "denoiser", asdict(model.config))


def load_denoiser(directory: str | Path, device: str = "auto") -> Denoiser:
    """Load what `save_denoiser` wrote (safetensors + JSON; nothing is unpickled)."""
    raw, state = read_small_model(directory, "denoiser", "denoiser")
    model = Denoiser(DenoiserConfig(width=int(raw["width"]), sigma_range=tuple(raw["sigma_range"])))
    model.load_state_dict(state)
    return model.to(resolve_device(device)).eval()
