"""Shared GAN training loop: non-saturating logistic loss, optional lazy R1, optional EMA generator."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._common import batch_from, progress_bar


@dataclass
class GanHooks:
    """Per-step callbacks: `on_step(step)` before each step; `real(x, step)` transforms real batches."""
    on_step: Callable[[int], None] | None = None
    real: Callable[[torch.Tensor, int], torch.Tensor] | None = None


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, beta: float) -> None:
    for pe, p in zip(ema.parameters(), model.parameters()):
        pe.lerp_(p, 1.0 - beta)
    for be, b in zip(ema.buffers(), model.buffers()):
        be.copy_(b)


def r1_penalty(D: nn.Module, real: torch.Tensor) -> torch.Tensor:
    real = real.detach().requires_grad_(True)
    out = D(real)
    (grad,) = torch.autograd.grad(out.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def train_gan(G: nn.Module, D: nn.Module, data: torch.Tensor, steps: int, *, latent: Callable[[int], torch.Tensor],
              batch: int, lr_g: float, lr_d: float, betas: tuple[float, float], device: torch.device,
              r1_gamma: float = 0.0, r1_every: int = 16, ema: nn.Module | None = None, ema_beta: float = 0.999,
              hooks: GanHooks | None = None, progress: bool = True, desc: str = "gan",
              step_end: Callable[[int, dict], bool] | None = None) -> dict[str, list[float]]:
    """Alternate one D step and one G step per iteration; returns loss history.
    `step_end(step, history)` runs after each step (checkpoints); returning True stops training."""
    hooks = hooks or GanHooks()
    G.to(device).train()
    D.to(device).train()
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=betas)
    hist: dict[str, list[float]] = {"loss_d": [], "loss_g": [], "r1": []}
    with progress_bar(steps, desc, progress) as advance:
        for step in range(steps):
            if hooks.on_step:
                hooks.on_step(step)
            real = batch_from(data, batch, device)
            if hooks.real:
                real = hooks.real(real, step)
            # discriminator
            with torch.no_grad():
                fake = G(latent(batch))
            loss_d = F.softplus(D(fake)).mean() + F.softplus(-D(real)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            if r1_gamma > 0 and step % r1_every == 0:
                r1 = r1_penalty(D, real)
                (r1 * (r1_gamma / 2) * r1_every).backward()
                hist["r1"].append(r1.item())
            opt_d.step()
            # generator
            for p in D.parameters():
                p.requires_grad_(False)
            loss_g = F.softplus(-D(G(latent(batch)))).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            for p in D.parameters():
                p.requires_grad_(True)
            if ema is not None:
                ema_update(ema, G, ema_beta)
            hist["loss_d"].append(loss_d.item())
            hist["loss_g"].append(loss_g.item())
            advance(loss_d=hist["loss_d"][-1], loss_g=hist["loss_g"][-1])
            if step_end is not None and step_end(step, hist):
                break
    return hist
