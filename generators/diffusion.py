"""Diffusion: a small DDPM (epsilon prediction, cosine schedule) with a U-Net, sampled with DDIM."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._common import batch_from, progress_bar, randn
from ._gan import ema_update
from ._registry import register_generator
from .base import Generator


@dataclass
class DiffusionConfig:
    resolution: int = 32
    channels: int = 32
    mults: tuple[int, ...] = (1, 2, 2)   # channel multiplier per U-Net level (each level halves the size)
    attn_res: tuple[int, ...] = (8,)     # resolutions with self-attention
    res_blocks: int = 1
    timesteps: int = 1000
    sample_steps: int = 50               # DDIM steps used by sample()
    eta: float = 1.0                     # DDIM stochasticity: 1 = DDPM-like ancestral steps (truer colours
                                         # for small models), 0 = deterministic given x_T
    steps: int = 2500
    batch_size: int = 16
    lr: float = 5e-4
    min_snr_gamma: float = 5.0           # Min-SNR loss weighting (Hang et al. 2023); 0 = plain MSE
    warmup: int = 100
    ema_beta: float = 0.998


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c), c)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int) -> None:
        super().__init__()
        self.n1, self.c1 = _norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(tdim, cout)
        self.n2, self.c2 = _norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x))) + self.t(t)[:, :, None, None]
        return self.skip(x) + self.c2(F.silu(self.n2(h)))


class Attention(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm, self.qkv, self.out = _norm(c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).view(n, 3, c, h * w).transpose(2, 3).unbind(1)
        y = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.out(y.transpose(1, 2).reshape(n, c, h, w))


class UNet(nn.Module):
    def __init__(self, c: DiffusionConfig) -> None:
        super().__init__()
        ch, tdim = c.channels, c.channels * 4
        self.ch = ch
        self.temb = nn.Sequential(nn.Linear(ch, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.inp = nn.Conv2d(3, ch, 3, padding=1)
        widths = [ch * m for m in c.mults]
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        cur, res = ch, c.resolution
        for i, w in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(c.res_blocks):
                blocks.append(ResBlock(cur, w, tdim))
                cur = w
            attn = Attention(w) if res in c.attn_res else nn.Identity()
            down = nn.Conv2d(w, w, 3, stride=2, padding=1) if i < len(widths) - 1 else nn.Identity()
            self.down.append(nn.ModuleList([blocks, attn, down]))
            res = res // 2 if i < len(widths) - 1 else res
        self.mid1, self.mid_attn, self.mid2 = ResBlock(cur, cur, tdim), Attention(cur), ResBlock(cur, cur, tdim)
        for i, w in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for j in range(c.res_blocks):
                blocks.append(ResBlock(cur + (w if j == 0 else 0), w, tdim))
                cur = w
            attn = Attention(w) if res in c.attn_res else nn.Identity()
            nxt = widths[i - 1] if i > 0 else w
            up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w, nxt, 3, padding=1)) \
                if i > 0 else nn.Identity()
            self.up.append(nn.ModuleList([blocks, attn, up]))
            cur, res = (nxt, res * 2) if i > 0 else (cur, res)
        self.out = nn.Sequential(_norm(cur), nn.SiLU(), nn.Conv2d(cur, 3, 3, padding=1))

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        half = self.ch // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
        a = t.float()[:, None] * freqs[None]
        return self.temb(torch.cat([a.sin(), a.cos()], 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_embedding(t)
        h, skips = self.inp(x), []
        for blocks, attn, down in self.down:
            for b in blocks:
                h = b(h, temb)
            h = attn(h)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.mid_attn(self.mid1(h, temb)), temb)
        for blocks, attn, up in self.up:
            h = torch.cat([h, skips.pop()], 1)
            for b in blocks:
                h = b(h, temb)
            h = up(attn(h))
        return self.out(h)


def alpha_bar(timesteps: int) -> torch.Tensor:
    """Cosine schedule (Nichol & Dhariwal 2021): cumulative signal fraction for t = 0..T-1."""
    s = 0.008
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    ab = f[1:] / f[0]
    return ab.clamp(1e-5, 0.9999).float()


@register_generator("diffusion")
class Diffusion(Generator):
    """Ho et al. 2020 (training) + Song et al. 2021 (DDIM sampling); the shipped U-Net is the EMA copy."""

    config_class = DiffusionConfig

    def build(self) -> nn.Module:
        return UNet(self.config)

    def _fit(self, data: torch.Tensor, steps: int, device: torch.device, progress: bool) -> dict[str, list[float]]:
        c = self.config
        model = copy.deepcopy(self.net).to(device).train()
        ab = alpha_bar(c.timesteps).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=c.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, c.warmup)))
        hist: dict[str, list[float]] = {"loss": []}
        with progress_bar(steps, "diffusion", progress) as advance:
            for step in range(steps):
                x0 = batch_from(data, c.batch_size, device)
                t = torch.randint(c.timesteps, (len(x0),), device=device)
                eps = torch.randn_like(x0)
                a = ab[t][:, None, None, None]
                err = (model(a.sqrt() * x0 + (1 - a).sqrt() * eps, t) - eps).pow(2).mean([1, 2, 3])
                if c.min_snr_gamma > 0:
                    snr = a.flatten() / (1 - a.flatten())
                    err = err * snr.clamp_max(c.min_snr_gamma) / snr
                loss = err.mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                ema_update(self.net, model, min(c.ema_beta, (1 + step) / (10 + step)))
                hist["loss"].append(loss.item())
                advance(loss=hist["loss"][-1])
                if self._step_end(step, hist):
                    break
        return hist

    def _sample_batch(self, gens: Sequence[torch.Generator], device: torch.device) -> torch.Tensor:
        c = self.config
        ab = alpha_bar(c.timesteps).to(device)
        ts = torch.linspace(c.timesteps - 1, 0, c.sample_steps).round().long().tolist()
        x = randn(gens, (3, c.resolution, c.resolution), device)
        for i, t in enumerate(ts):
            a = ab[t]
            a_prev = ab[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0, device=device)
            eps = self.net(x, torch.full((len(x),), t, device=device))
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
            eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
            sigma = c.eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).clamp_min(0).sqrt()
            x = a_prev.sqrt() * x0 + (1 - a_prev - sigma ** 2).clamp_min(0).sqrt() * eps
            if c.eta > 0 and i + 1 < len(ts):
                x = x + sigma * randn(gens, x.shape[1:], device)
        return x.clamp(-1, 1)
