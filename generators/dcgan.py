"""DCGAN: transposed-convolution generator (the classic checkerboard source) + strided-conv discriminator."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ._common import randn
from ._gan import train_gan
from ._registry import register_generator
from .base import Generator


@dataclass
class DCGANConfig:
    resolution: int = 32
    latent_dim: int = 100
    g_width: int = 48          # channels of the last hidden generator layer (doubles towards 4x4)
    d_width: int = 48
    max_width: int = 512
    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5


def _widths(res: int, base: int, cap: int) -> list[int]:
    n = int(math.log2(res)) - 2  # number of 2x stages after 4x4
    return [min(base * 2 ** (n - 1 - i), cap) for i in range(n)]


class DCGANGenerator(nn.Module):
    def __init__(self, c: DCGANConfig) -> None:
        super().__init__()
        w = _widths(c.resolution, c.g_width, c.max_width)
        layers: list[nn.Module] = [nn.ConvTranspose2d(c.latent_dim, w[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(w[0]), nn.ReLU(True)]
        for a, b in zip(w[:-1], w[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(w[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    def __init__(self, c: DCGANConfig) -> None:
        super().__init__()
        w = list(reversed(_widths(c.resolution, c.d_width, c.max_width)))
        layers: list[nn.Module] = [nn.Conv2d(3, w[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for a, b in zip(w[:-1], w[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(w[-1], 1, 4, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten(1)


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


@register_generator("dcgan")
class DCGAN(Generator):
    """Radford et al. 2016. Sampling uses BatchNorm population statistics recomputed after training."""

    config_class = DCGANConfig

    def build(self) -> nn.Module:
        return DCGANGenerator(self.config)

    def _fit(self, data: torch.Tensor, steps: int, device: torch.device, progress: bool) -> dict[str, list[float]]:
        c = self.config
        D = DCGANDiscriminator(c).to(device)
        latent = lambda b: torch.randn(b, c.latent_dim, device=device)  # noqa: E731
        hist = train_gan(self.net, D, data, steps, latent=latent, batch=c.batch_size, lr_g=c.lr, lr_d=c.lr,
                         betas=(c.beta1, 0.999), device=device, progress=progress, desc="dcgan",
                         step_end=self._step_end)
        self._recompute_bn(latent)
        return hist

    @torch.no_grad()
    def _recompute_bn(self, latent, batches: int = 32) -> None:
        """Replace running BN statistics by their average over many random batches (stable eval-mode samples)."""
        bns = [m for m in self.net.modules() if isinstance(m, nn.BatchNorm2d)]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        self.net.train()
        for _ in range(batches):
            self.net(latent(self.config.batch_size))
        for m in bns:
            m.momentum = 0.1

    def _sample_batch(self, gens: Sequence[torch.Generator], device: torch.device) -> torch.Tensor:
        return self.net(randn(gens, (self.config.latent_dim,), device))
