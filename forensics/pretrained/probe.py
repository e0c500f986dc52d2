"""A linear probe on standardised CLIP features: fit, score, per-token heatmap, safe save/load.

Because the features are means of patch tokens (plus CLS tokens), the probe's logit on an image is
exactly the mean over patch tokens of the probe applied to each token's standardised state plus the
CLS part: `token_logits` returns those per-token terms on the 14x14 grid, a coarse heatmap that
averages to the image logit.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from forensics.pretrained.clip_encoder import GRID, WIDTH
from forensics.pretrained.features import FeatureSpec


@dataclass
class LinearProbe:
    """logit = coef . ((x - mean) / scale) + intercept, on features laid out by `spec`."""

    spec: FeatureSpec
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logits(self, feats: np.ndarray) -> np.ndarray:
        z = (np.asarray(feats, np.float32) - self.mean) / self.scale
        return z @ self.coef + self.intercept

    def token_logits(self, hidden: dict[int, np.ndarray]) -> np.ndarray:
        """(N, 14, 14) per-token terms whose mean over the grid is the image logit (CLS terms and the
        intercept spread evenly over the tokens)."""
        n = next(iter(hidden.values())).shape[0]
        per_token = np.zeros((n, GRID * GRID), np.float32)
        const = np.full(n, self.intercept, np.float32)
        for k, b in enumerate(self.spec.mean_blocks):
            sl = slice(k * WIDTH, (k + 1) * WIDTH)
            w = self.coef[sl] / self.scale[sl]
            per_token += hidden[b][:, 1:] @ w
            const -= float(self.mean[sl] @ w)
        off = len(self.spec.mean_blocks)
        for k, b in enumerate(self.spec.cls_blocks):
            sl = slice((off + k) * WIDTH, (off + k + 1) * WIDTH)
            w = self.coef[sl] / self.scale[sl]
            const += hidden[b][:, 0] @ w - float(self.mean[sl] @ w)
        return (per_token + const[:, None]).reshape(n, GRID, GRID)

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        save_file({"mean": self.mean.astype(np.float32), "scale": self.scale.astype(np.float32),
                   "coef": self.coef.astype(np.float32),
                   "intercept": np.array([self.intercept], np.float32)}, str(path))

    @classmethod
    def load(cls, path: Path, spec: FeatureSpec) -> "LinearProbe":
        t = load_file(str(path))
        missing = {"mean", "scale", "coef", "intercept"} - set(t)
        if missing:
            raise ValueError(f"{path}: probe lacks {sorted(missing)}")
        for k in ("mean", "scale", "coef"):
            if t[k].shape != (spec.dim,):
                raise ValueError(f"{path}: probe tensor {k} has shape {t[k].shape}, expected ({spec.dim},) for {spec.name()}")
        if not np.all(t["scale"] > 0) or not all(np.isfinite(t[k]).all() for k in t):
            raise ValueError(f"{path}: probe holds non-finite values or non-positive scales")
        return cls(spec, t["mean"], t["scale"], t["coef"], float(t["intercept"][0]))


def balanced_weights(labels: np.ndarray, groups: np.ndarray, cells: Optional[np.ndarray] = None) -> np.ndarray:
    """Sample weights giving each class half the total weight and, within a class, each group (source)
    an equal share, so a large source cannot set what "real" means.

    With `cells` (one content label per row, e.g. "faces-hq" / "other"), each class first splits its half
    between the cells in the same proportions for both classes (each cell's share of all groups, both
    classes pooled), then among the cell's groups equally: what a picture shows carries no weight of
    evidence for either class, so the fit cannot learn "a close-up face is fake" from which content has
    more fake sources than real ones."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    w = np.zeros(labels.size, np.float64)
    if cells is None:
        cells = np.zeros(labels.size, np.int8)
    cells = np.asarray(cells)
    pooled = {c: len(np.unique(groups[cells == c])) for c in np.unique(cells)}
    for y in (0, 1):
        in_class = labels == y
        present = np.unique(cells[in_class])
        total = sum(pooled[c] for c in present)
        for c in present:
            in_cell = in_class & (cells == c)
            names = np.unique(groups[in_cell])
            for g in names:
                m = in_cell & (groups == g)
                w[m] = 0.5 * pooled[c] / total / len(names) / m.sum()
    return w * labels.size


def fit_logistic(x: np.ndarray, labels: np.ndarray, weights: Optional[np.ndarray], *, l2: float,
                 max_iter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean, scale, coef, intercept) of a weighted, L2-regularised logistic regression on standardised
    rows of `x` (full-batch L-BFGS). `l2` multiplies the sum of squared coefficients (the loss is a weighted
    mean over rows): sklearn's C on n rows corresponds to l2 = 1 / (2 C n)."""
    x = np.asarray(x, np.float32)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    z = torch.from_numpy((x - mean) / scale)
    y = torch.from_numpy(np.asarray(labels, np.float32))
    w = torch.from_numpy(np.ones(len(y), np.float32) if weights is None else np.asarray(weights, np.float32))
    w = w / w.sum()
    coef = torch.zeros(z.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([coef, bias], lr=1.0, max_iter=max_iter, history_size=20,
                            tolerance_grad=1e-7, tolerance_change=1e-10, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logit = z @ coef + bias
        loss = (w * torch.nn.functional.binary_cross_entropy_with_logits(logit, y, reduction="none")).sum()
        loss = loss + l2 * (coef * coef).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return mean, scale, coef.detach().numpy().copy(), float(bias.detach()[0])


def fit_probe(feats: np.ndarray, labels: np.ndarray, spec: FeatureSpec, *, weights: Optional[np.ndarray] = None,
              l2: float = 1e-3, max_iter: int = 200) -> LinearProbe:
    """A `LinearProbe` fitted by `fit_logistic` on per-image features laid out by `spec`."""
    return LinearProbe(spec, *fit_logistic(feats, labels, weights, l2=l2, max_iter=max_iter))
