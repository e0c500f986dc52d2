"""Fine-tuning CLIP's blocks above a stored block: the representation lever on a CPU.

Training the whole tower needs a GPU (`benchmarks/clip_torch_speed.py`). The recipe already stores the
patch tokens after block 4 for every image, so the blocks above it can be trained from those states
without running blocks 0-4 again: `TunedBlocks` runs copies of blocks 5.. of `ClipVisionTower` on the
stored block-4 patch tokens and reads the image logit with a linear head on the mean patch token of
every block (the shipped probe's features), initialised from a fitted `LinearProbe`.

The stored states hold patch tokens only, not the class token; blocks run without it (their means
then differ from the full tower's by a few per cent: `reports/fused/selection.md`, section 13).

With `lora_rank` the copied blocks stay frozen and every linear layer in them learns a low-rank update
(`LoraLinear`, zero at the start), so training starts exactly where the full fine-tuning does and moves
far fewer weights (section 42).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from forensics.pretrained.clip_encoder import WIDTH
from forensics.pretrained.clip_torch import ClipVisionTower
from forensics.pretrained.probe import LinearProbe


LORA_LAYERS = ("q", "k", "v", "out", "fc1", "fc2")


class LoraLinear(nn.Module):
    """A frozen linear layer plus a trainable rank-`rank` update `up @ down` (`up` starts at zero, so the
    layer starts as the frozen one), scaled by `alpha / rank` as in the LoRA paper."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float | None = None) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be at least 1, not {rank}")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.down = nn.Parameter(torch.empty(rank, base.in_features))
        self.up = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.down, a=math.sqrt(5))
        self.scaling = (alpha if alpha is not None else rank) / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.down.t() @ self.up.t()) * self.scaling


class TunedBlocks(nn.Module):
    """Blocks `first`..`last` of a CLIP tower on stored states of block `first - 1`; image logit =
    linear head on the standardised mean patch token of blocks `first - 1`..`last`."""

    def __init__(self, tower: ClipVisionTower, first: int, last: int, probe: LinearProbe,
                 lora_rank: int = 0) -> None:
        super().__init__()
        if not 0 < first <= last < len(tower.blocks):
            raise ValueError(f"blocks {first}-{last} are not above a stored block of this {len(tower.blocks)}-block tower")
        n_feats = last - first + 2
        if probe.coef.shape != (n_feats * WIDTH,):
            raise ValueError(f"the probe reads {probe.coef.size} features, not the {n_feats} x {WIDTH} of blocks "
                             f"{first - 1}-{last}")
        self.blocks = nn.ModuleList(copy.deepcopy(tower.blocks[i]) for i in range(first, last + 1))
        if lora_rank:
            for block in self.blocks:
                for p in block.parameters():
                    p.requires_grad_(False)
                for name in LORA_LAYERS:
                    setattr(block, name, LoraLinear(getattr(block, name), lora_rank))
        self.register_buffer("mean", torch.from_numpy(np.asarray(probe.mean, np.float32)))
        self.register_buffer("scale", torch.from_numpy(np.asarray(probe.scale, np.float32)))
        self.head = nn.Linear(n_feats * WIDTH, 1)
        with torch.no_grad():
            self.head.weight.copy_(torch.from_numpy(np.asarray(probe.coef, np.float32))[None])
            self.head.bias.fill_(float(probe.intercept))

    def features(self, states: torch.Tensor) -> torch.Tensor:
        """(N, T, 768) states of the stored block -> (N, 768 * (blocks + 1)) mean patch tokens."""
        means = [states.mean(dim=1)]
        x = states
        for block in self.blocks:
            x = block(x)
            means.append(x.mean(dim=1))
        return torch.cat(means, dim=1)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.head((self.features(states) - self.mean) / self.scale)[:, 0]


@dataclass
class TuneSchedule:
    """How long and how fast the blocks and the head are trained."""

    epochs: float = 1.0
    batch: int = 32
    tokens: int = 98  # patch tokens drawn per batch in training (all are used when scoring)
    block_lr: float = 2e-5
    head_lr: float = 1e-4
    weight_decay: float = 0.01
    seed: int = 0


def tune(model: TunedBlocks, states: Callable[[np.ndarray], np.ndarray], labels: np.ndarray,
         weights: np.ndarray, schedule: TuneSchedule,
         log: Optional[Callable[[str], None]] = None) -> list[float]:
    """Train `model`'s trainable block weights and its head (on whatever device it is) in place on the rows of
    `labels`, drawn with probability `weights` (e.g. `balanced_weights`); `states(i)` returns the stored states
    ((n, 196, 768), any float dtype) of the rows at positions `i` of `labels` (not of a larger array). Returns the
    mean loss of each tenth of training."""
    gen = torch.Generator().manual_seed(schedule.seed)
    device = next(model.parameters()).device
    n_steps = max(1, math.ceil(schedule.epochs * len(labels) / schedule.batch))
    draws = torch.multinomial(torch.as_tensor(weights, dtype=torch.float64), n_steps * schedule.batch,
                              replacement=True, generator=gen).view(n_steps, schedule.batch).numpy()
    trained = [p for p in model.blocks.parameters() if p.requires_grad]  # the LoRA updates alone, when set
    opt = torch.optim.AdamW([{"params": trained, "lr": schedule.block_lr},
                             {"params": model.head.parameters(), "lr": schedule.head_lr}],
                            weight_decay=schedule.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / n_steps)))
    y_all = torch.as_tensor(labels, dtype=torch.float32, device=device)
    model.train()
    step_losses: list[float] = []
    report_every = max(1, n_steps // 10)
    for step, rows in enumerate(draws):
        x = torch.from_numpy(np.asarray(states(rows), np.float32))
        if schedule.tokens < x.shape[1]:
            keep = torch.randperm(x.shape[1], generator=gen)[:schedule.tokens]
            x = x[:, keep]
        x = x.to(device)
        loss = nn.functional.binary_cross_entropy_with_logits(model(x), y_all[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step_losses.append(loss.item())
        if log and ((step + 1) % report_every == 0 or step + 1 == n_steps):
            log(f"step {step + 1}/{n_steps} loss {np.mean(step_losses[-report_every:]):.4f}")
    model.eval()
    return [float(np.mean(part)) for part in np.array_split(step_losses, min(10, n_steps))]


@torch.no_grad()
def score(model: TunedBlocks, states: Callable[[np.ndarray], np.ndarray], rows: Sequence[int],
          batch: int = 64) -> np.ndarray:
    """Image logits of `rows`, every patch token used."""
    model.eval()
    device = next(model.parameters()).device
    rows = np.asarray(rows)
    out = [model(torch.from_numpy(np.asarray(states(rows[i:i + batch]), np.float32)).to(device)).cpu().numpy()
           for i in range(0, len(rows), batch)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)
