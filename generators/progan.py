"""ProGAN: progressively grown GAN with pixel norm, minibatch stddev and equalized learning rate.

Training grows from `start_resolution` to `resolution`, each new resolution faded in linearly.
Loss: non-saturating logistic + lazy R1 (the original used WGAN-GP; R1 is cheaper on a CPU).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._common import randn
from ._gan import GanHooks, train_gan
from ._layers import EqConv2d, EqLinear, lrelu, minibatch_stddev, pixel_norm
from ._registry import register_generator
from .base import Generator


@dataclass
class ProGANConfig:
    resolution: int = 32
    start_resolution: int = 8
    latent_dim: int = 128
    widths: tuple[int, ...] = (64, 64, 32, 16)  # channels at 4, 8, 16, 32, ... px (last repeated if short)
    steps: int = 3000
    batch_size: int = 32
    lr: float = 1e-3
    r1_gamma: float = 0.05
    ema_beta: float = 0.998


def _res_list(c: ProGANConfig) -> list[int]:
    return [2 ** i for i in range(2, int(math.log2(c.resolution)) + 1)]


def _width(c: ProGANConfig, i: int) -> int:
    return c.widths[min(i, len(c.widths) - 1)]


class ProGenerator(nn.Module):
    def __init__(self, c: ProGANConfig) -> None:
        super().__init__()
        res = _res_list(c)
        w0 = _width(c, 0)
        self.dense = EqLinear(c.latent_dim, w0 * 16, gain=math.sqrt(2) / 4)
        self.conv4 = EqConv2d(w0, w0, 3)
        self.blocks = nn.ModuleList([nn.ModuleList([EqConv2d(_width(c, i - 1), _width(c, i), 3),
                                                    EqConv2d(_width(c, i), _width(c, i), 3)])
                                     for i in range(1, len(res))])
        self.to_rgb = nn.ModuleList([EqConv2d(_width(c, i), 3, 1, gain=1.0) for i in range(len(res))])
        self.stage, self.alpha = len(res) - 1, 1.0  # index of the output resolution; fade-in weight

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.dense(pixel_norm(z)).view(len(z), -1, 4, 4)
        x = pixel_norm(lrelu(x))
        x = pixel_norm(lrelu(self.conv4(x)))
        prev = x
        for i in range(1, self.stage + 1):
            prev = x
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            for conv in self.blocks[i - 1]:
                x = pixel_norm(lrelu(conv(x)))
        out = self.to_rgb[self.stage](x)
        if self.alpha < 1.0 and self.stage > 0:
            skip = F.interpolate(self.to_rgb[self.stage - 1](prev), scale_factor=2, mode="nearest")
            out = torch.lerp(skip, out, self.alpha)
        return out


class ProDiscriminator(nn.Module):
    def __init__(self, c: ProGANConfig) -> None:
        super().__init__()
        res = _res_list(c)
        self.from_rgb = nn.ModuleList([EqConv2d(3, _width(c, i), 1) for i in range(len(res))])
        self.blocks = nn.ModuleList([nn.ModuleList([EqConv2d(_width(c, i), _width(c, i), 3),
                                                    EqConv2d(_width(c, i), _width(c, i - 1), 3)])
                                     for i in range(1, len(res))])
        w0 = _width(c, 0)
        self.conv4 = EqConv2d(w0 + 1, w0, 3)
        self.fc1, self.fc2 = EqLinear(w0 * 16, w0), EqLinear(w0, 1, gain=1.0)
        self.stage, self.alpha = len(res) - 1, 1.0

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = lrelu(self.from_rgb[self.stage](img))
        for i in range(self.stage, 0, -1):
            for conv in self.blocks[i - 1]:
                x = lrelu(conv(x))
            x = F.avg_pool2d(x, 2)
            if i == self.stage and self.alpha < 1.0:
                x = torch.lerp(lrelu(self.from_rgb[i - 1](F.avg_pool2d(img, 2))), x, self.alpha)
        x = lrelu(self.conv4(minibatch_stddev(x)))
        return self.fc2(lrelu(self.fc1(x.flatten(1))))


def _schedule(c: ProGANConfig, steps: int, step: int) -> tuple[int, float]:
    """(stage, alpha) at `step`. Each resolution gets one share of the steps and the final one two;
    the first half of every new resolution's share fades it in."""
    first = int(math.log2(c.start_resolution)) - 2
    last = len(_res_list(c)) - 1
    n = last - first + 1
    share = max(1, steps // (n + 1))
    k = min(step // share, n - 1)
    alpha = 1.0 if k == 0 else min(1.0, (step - k * share) / max(1, share // 2))
    return first + k, alpha


@register_generator("progan")
class ProGAN(Generator):
    """Karras et al. 2018, scaled down; the shipped module is the EMA generator."""

    config_class = ProGANConfig

    def build(self) -> nn.Module:
        return ProGenerator(self.config)

    def _fit(self, data: torch.Tensor, steps: int, device: torch.device, progress: bool) -> dict[str, list[float]]:
        c = self.config
        G = copy.deepcopy(self.net).to(device)
        D = ProDiscriminator(c).to(device)
        full = len(_res_list(c)) - 1

        def on_step(step: int) -> None:
            stage, alpha = _schedule(c, steps, step)
            for m in (G, D, self.net):
                m.stage, m.alpha = stage, alpha

        def real(x: torch.Tensor, step: int) -> torch.Tensor:
            stage, alpha = G.stage, G.alpha
            x = F.avg_pool2d(x, 2 ** (full - stage)) if stage < full else x
            if alpha < 1.0:
                x = torch.lerp(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest"), x, alpha)
            return x

        latent = lambda b: torch.randn(b, c.latent_dim, device=device)  # noqa: E731
        hist = train_gan(G, D, data, steps, latent=latent, batch=c.batch_size, lr_g=c.lr, lr_d=c.lr,
                         betas=(0.0, 0.99), device=device, r1_gamma=c.r1_gamma, r1_every=8, ema=self.net,
                         ema_beta=c.ema_beta, hooks=GanHooks(on_step, real), progress=progress, desc="progan",
                         step_end=self._step_end)
        self.net.stage, self.net.alpha = full, 1.0
        return hist

    def _sample_batch(self, gens: Sequence[torch.Generator], device: torch.device) -> torch.Tensor:
        self.net.stage, self.net.alpha = len(_res_list(self.config)) - 1, 1.0
        return self.net(randn(gens, (self.config.latent_dim,), device)).clamp(-1, 1)
