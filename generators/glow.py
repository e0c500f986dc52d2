"""Glow: a multi-scale normalizing flow (actnorm, invertible 1x1 conv, affine coupling) sampled with a temperature."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._common import batch_from, progress_bar, randn
from ._registry import register_generator
from .base import Generator


@dataclass
class GlowConfig:
    resolution: int = 32
    levels: int = 3           # multi-scale levels (each squeezes 2x)
    depth: int = 8            # flow steps per level
    hidden: int = 64          # coupling network width
    n_bits: int = 5           # training data quantised to this many bits (Kingma & Dhariwal 2018)
    temperature: float = 0.7  # prior std multiplier used by sample()
    steps: int = 3000
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 200
    seed: int = 0


def squeeze(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    x = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(n, c * 4, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    x = x.view(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(n, c // 4, h * 2, w * 2)


class ActNorm(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.initialized:
            with torch.no_grad():  # data-dependent init: zero mean, unit variance per channel
                self.bias.copy_(-x.mean([0, 2, 3], keepdim=True))
                self.logs.copy_(-torch.log(x.std([0, 2, 3], keepdim=True) + 1e-6))
                self.initialized.fill_(1)
        return (x + self.bias) * torch.exp(self.logs), self.logs.sum() * x.shape[2] * x.shape[3]

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.logs) - self.bias


class InvConv(nn.Module):
    def __init__(self, c: int, g: torch.Generator) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.linalg.qr(torch.randn(c, c, generator=g))[0])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = torch.linalg.slogdet(self.weight.double())[1].float() * x.shape[2] * x.shape[3]
        return F.conv2d(x, self.weight[:, :, None, None]), logdet

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        inv = torch.linalg.inv(self.weight.double()).to(y.dtype)
        return F.conv2d(y, inv[:, :, None, None])


class ZeroConv(nn.Conv2d):
    """3x3 conv initialised to zero with a learned log-scale (so every flow starts as the identity)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 3, padding=1)
        nn.init.zeros_(self.weight)
        nn.init.zeros_(self.bias)
        self.logs = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * torch.exp(self.logs * 3)


class Coupling(nn.Module):
    def __init__(self, c: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(c // 2, hidden, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hidden, hidden, 1), nn.ReLU(), ZeroConv(hidden, c))

    def _st(self, xa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(xa)
        shift, raw = h[:, 0::2], h[:, 1::2]
        return shift, torch.sigmoid(raw + 2.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xa, xb = x.chunk(2, 1)
        shift, scale = self._st(xa)
        return torch.cat([xa, (xb + shift) * scale], 1), torch.log(scale).flatten(1).sum(1)

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        ya, yb = y.chunk(2, 1)
        shift, scale = self._st(ya)
        return torch.cat([ya, yb / scale - shift], 1)


class FlowStep(nn.Module):
    def __init__(self, c: int, hidden: int, g: torch.Generator) -> None:
        super().__init__()
        self.actnorm, self.invconv, self.coupling = ActNorm(c), InvConv(c, g), Coupling(c, hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, l1 = self.actnorm(x)
        x, l2 = self.invconv(x)
        x, l3 = self.coupling(x)
        return x, l1 + l2 + l3

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        return self.actnorm.reverse(self.invconv.reverse(self.coupling.reverse(y)))


def _gauss_logp(x: torch.Tensor, mean: torch.Tensor, logs: torch.Tensor) -> torch.Tensor:
    return (-0.5 * (math.log(2 * math.pi) + 2 * logs + (x - mean) ** 2 * torch.exp(-2 * logs))).flatten(1).sum(1)


class GlowNet(nn.Module):
    def __init__(self, c: GlowConfig) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(c.seed)
        ch, res = 3, c.resolution
        self.levels, self.priors = nn.ModuleList(), nn.ModuleList()
        for i in range(c.levels):
            ch, res = ch * 4, res // 2
            self.levels.append(nn.ModuleList([FlowStep(ch, c.hidden, g) for _ in range(c.depth)]))
            if i < c.levels - 1:
                self.priors.append(ZeroConv(ch // 2, ch))  # split prior: p(z_i | h_i)
                ch //= 2
        self.top = nn.Parameter(torch.zeros(1, 2 * ch, res, res))  # learned top prior (mean, log-std)
        self.top_shape = (ch, res, res)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) in nats per image, x in [-0.5, 0.5] (continuous, dequantised)."""
        logp = torch.zeros(len(x), device=x.device)
        h = x
        for i, steps in enumerate(self.levels):
            h = squeeze(h)
            for step in steps:
                h, ld = step(h)
                logp = logp + ld
            if i < len(self.levels) - 1:
                h, z = h.chunk(2, 1)
                mean, logs = self.priors[i](h).chunk(2, 1)
                logp = logp + _gauss_logp(z, mean, logs)
        mean, logs = self.top.expand(len(x), -1, -1, -1).chunk(2, 1)
        return logp + _gauss_logp(h, mean, logs)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x in [-0.5, 0.5] -> standardised latents in the order `reverse` takes them (for checks)."""
        h, eps = x, []
        for i, steps in enumerate(self.levels):
            h = squeeze(h)
            for step in steps:
                h, _ = step(h)
            if i < len(self.levels) - 1:
                h, z = h.chunk(2, 1)
                mean, logs = self.priors[i](h).chunk(2, 1)
                eps.append((z - mean) * torch.exp(-logs))
        mean, logs = self.top.expand(len(x), -1, -1, -1).chunk(2, 1)
        return [(h - mean) * torch.exp(-logs)] + eps[::-1]

    def reverse(self, eps: list[torch.Tensor], temperature: float) -> torch.Tensor:
        """eps: standard normals, [top, level L-2, ..., level 0] shapes; returns x in [-0.5, 0.5]."""
        mean, logs = self.top.expand(len(eps[0]), -1, -1, -1).chunk(2, 1)
        h = mean + torch.exp(logs) * temperature * eps[0]
        for j, i in enumerate(range(len(self.levels) - 1, -1, -1)):
            if i < len(self.levels) - 1:
                mean, logs = self.priors[i](h).chunk(2, 1)
                h = torch.cat([h, mean + torch.exp(logs) * temperature * eps[j]], 1)
            for step in reversed(self.levels[i]):
                h = step.reverse(h)
            h = unsqueeze(h)
        return h



@register_generator("glow")
class Glow(Generator):
    """Kingma & Dhariwal 2018, scaled down; trained by maximum likelihood on n_bits-quantised images."""

    config_class = GlowConfig

    def build(self) -> nn.Module:
        return GlowNet(self.config)

    def _preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] batch -> n_bits quantised, uniformly dequantised values in [-0.5, 0.5]."""
        bins = 2 ** self.config.n_bits
        u8 = ((x + 1) * 127.5).round()
        q = torch.floor(u8 / 2 ** (8 - self.config.n_bits))
        return q / bins - 0.5 + torch.rand_like(q) / bins

    def _fit(self, data: torch.Tensor, steps: int, device: torch.device, progress: bool) -> dict[str, list[float]]:
        c, net = self.config, self.net
        dims = 3 * c.resolution ** 2
        with torch.no_grad():
            net.log_prob(self._preprocess(batch_from(data, max(c.batch_size, 256), device)))  # actnorm init
        opt = torch.optim.Adam(net.parameters(), lr=c.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, c.warmup)))
        hist: dict[str, list[float]] = {"bits_per_dim": []}
        with progress_bar(steps, "glow", progress) as advance:
            for step in range(steps):
                x = self._preprocess(batch_from(data, c.batch_size, device))
                logp = net.log_prob(x) - dims * math.log(2 ** c.n_bits)
                loss = -(logp.mean()) / (dims * math.log(2))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 50.0)
                opt.step()
                sched.step()
                hist["bits_per_dim"].append(loss.item())
                advance(bpd=hist["bits_per_dim"][-1])
                if self._step_end(step, hist):
                    break
        return hist

    def _sample_batch(self, gens: Sequence[torch.Generator], device: torch.device) -> torch.Tensor:
        eps = [randn(gens, s, device) for s in self._eps_shapes()]
        x = self.net.reverse(eps, self.config.temperature)
        return (x * 2).clamp(-1, 1)

    def _eps_shapes(self) -> list[tuple[int, int, int]]:
        c = self.config
        shapes, ch, res = [], 3, c.resolution
        for i in range(c.levels):
            ch, res = ch * 4, res // 2
            if i < c.levels - 1:
                shapes.append((ch // 2, res, res))
                ch //= 2
        shapes.append((ch, res, res))
        return list(reversed(shapes))
