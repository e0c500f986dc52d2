"""StyleGAN (StyleGAN2-style, scaled down): mapping network, modulated/demodulated convs, noise inputs,
skip-connected toRGB outputs, residual discriminator; non-saturating loss with lazy R1.
No path-length regularisation or style mixing (kept small for the CPU)."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._common import randn
from ._gan import train_gan
from ._layers import EqConv2d, EqLinear, lrelu, minibatch_stddev, pixel_norm
from ._registry import register_generator
from .base import Generator

NoiseFn = Callable[[tuple[int, ...]], torch.Tensor]


@dataclass
class StyleGANConfig:
    resolution: int = 32
    latent_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 4
    widths: tuple[int, ...] = (64, 64, 32, 16)  # channels at 4, 8, 16, 32, ... px
    steps: int = 2000
    batch_size: int = 32
    lr: float = 2e-3
    r1_gamma: float = 0.05
    ema_beta: float = 0.998
    truncation: float = 1.0  # psi used by sample(); 1.0 = no truncation


def _width(c: StyleGANConfig, i: int) -> int:
    return c.widths[min(i, len(c.widths) - 1)]


class ModConv(nn.Module):
    """Modulated conv: scale input channels by a style, convolve, demodulate, add noise and bias."""

    def __init__(self, cin: int, cout: int, k: int, w_dim: int, demod: bool = True, noise: bool = True,
                 act: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.scale, self.pad = 1 / math.sqrt(cin * k * k), k // 2
        self.affine = EqLinear(w_dim, cin, gain=1.0, bias_init=1.0)
        self.bias = nn.Parameter(torch.zeros(cout))
        self.noise_strength = nn.Parameter(torch.zeros(())) if noise else None
        self.demod, self.act = demod, act

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_fn: NoiseFn | None) -> torch.Tensor:
        s = self.affine(w)                                            # (B, cin)
        weight = self.weight * self.scale
        x = F.conv2d(x * s[:, :, None, None], weight, padding=self.pad)
        if self.demod:
            d = torch.rsqrt((s.pow(2) @ weight.pow(2).sum([2, 3]).T) + 1e-8)  # (B, cout)
            x = x * d[:, :, None, None]
        if self.noise_strength is not None:
            n, _, h, wd = x.shape
            noise = noise_fn((n, 1, h, wd)) if noise_fn else torch.randn(n, 1, h, wd, device=x.device)
            x = x + self.noise_strength * noise
        x = x + self.bias[None, :, None, None]
        return lrelu(x) * math.sqrt(2) if self.act else x


class SynthesisNet(nn.Module):
    def __init__(self, c: StyleGANConfig) -> None:
        super().__init__()
        n = int(math.log2(c.resolution)) - 1  # number of resolutions 4..R
        w0 = _width(c, 0)
        mapping: list[nn.Module] = []
        for i in range(c.mapping_layers):
            mapping.append(EqLinear(c.latent_dim if i == 0 else c.w_dim, c.w_dim, lr_mul=0.01))
        self.mapping = nn.ModuleList(mapping)
        self.const = nn.Parameter(torch.randn(1, w0, 4, 4))
        self.conv4 = ModConv(w0, w0, 3, c.w_dim)
        self.blocks = nn.ModuleList([nn.ModuleList([ModConv(_width(c, i - 1), _width(c, i), 3, c.w_dim),
                                                    ModConv(_width(c, i), _width(c, i), 3, c.w_dim)])
                                     for i in range(1, n)])
        self.to_rgb = nn.ModuleList([ModConv(_width(c, i), 3, 1, c.w_dim, demod=False, noise=False, act=False)
                                     for i in range(n)])
        self.register_buffer("w_avg", torch.zeros(c.w_dim))

    def map(self, z: torch.Tensor) -> torch.Tensor:
        w = pixel_norm(z)
        for layer in self.mapping:
            w = lrelu(layer(w)) * math.sqrt(2)
        return w

    def synthesize(self, w: torch.Tensor, noise_fn: NoiseFn | None = None) -> torch.Tensor:
        x = self.conv4(self.const.expand(len(w), -1, -1, -1), w, noise_fn)
        rgb = self.to_rgb[0](x, w, None)
        for i, (c1, c2) in enumerate(self.blocks, start=1):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = c2(c1(x, w, noise_fn), w, noise_fn)
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + self.to_rgb[i](x, w, None)
        return rgb

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesize(self.map(z))


class ResDiscriminator(nn.Module):
    def __init__(self, c: StyleGANConfig) -> None:
        super().__init__()
        n = int(math.log2(c.resolution)) - 1
        self.from_rgb = EqConv2d(3, _width(c, n - 1), 1)
        self.blocks = nn.ModuleList()
        for i in range(n - 1, 0, -1):
            a, b = _width(c, i), _width(c, i - 1)
            self.blocks.append(nn.ModuleList([EqConv2d(a, a, 3), EqConv2d(a, b, 3), EqConv2d(a, b, 1, bias=False)]))
        w0 = _width(c, 0)
        self.conv4 = EqConv2d(w0 + 1, w0, 3)
        self.fc1, self.fc2 = EqLinear(w0 * 16, w0), EqLinear(w0, 1, gain=1.0)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = lrelu(self.from_rgb(img))
        for c1, c2, skip in self.blocks:
            y = F.avg_pool2d(lrelu(c2(lrelu(c1(x)))), 2)
            x = (y + skip(F.avg_pool2d(x, 2))) / math.sqrt(2)
        x = lrelu(self.conv4(minibatch_stddev(x)))
        return self.fc2(lrelu(self.fc1(x.flatten(1))))


@register_generator("stylegan")
class StyleGAN(Generator):
    """Karras et al. 2019/2020, scaled down; the shipped module is the EMA generator (with w_avg)."""

    config_class = StyleGANConfig

    def build(self) -> nn.Module:
        return SynthesisNet(self.config)

    def _fit(self, data: torch.Tensor, steps: int, device: torch.device, progress: bool) -> dict[str, list[float]]:
        c = self.config
        G = copy.deepcopy(self.net).to(device)
        D = ResDiscriminator(c).to(device)
        latent = lambda b: torch.randn(b, c.latent_dim, device=device)  # noqa: E731
        hist = train_gan(G, D, data, steps, latent=latent, batch=c.batch_size, lr_g=c.lr, lr_d=c.lr,
                         betas=(0.0, 0.99), device=device, r1_gamma=c.r1_gamma, r1_every=16, ema=self.net,
                         ema_beta=c.ema_beta, progress=progress, desc="stylegan",
                         step_end=self._step_end)
        with torch.no_grad():  # w_avg for truncation, from the EMA mapping network
            self.net.w_avg.copy_(self.net.map(torch.randn(4096, c.latent_dim, device=device)).mean(0))
        return hist

    def _sample_batch(self, gens: Sequence[torch.Generator], device: torch.device) -> torch.Tensor:
        net, psi = self.net, self.config.truncation
        w = net.map(randn(gens, (self.config.latent_dim,), device))
        if psi != 1.0:
            w = torch.lerp(net.w_avg, w, psi)
        noise_fn = lambda shape: randn(gens, shape[1:], device)  # noqa: E731
        return net.synthesize(w, noise_fn).clamp(-1, 1)
