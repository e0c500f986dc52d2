"""A linear probe on individual CLIP patch tokens: every token of an image is trained with the image's
label (the patch-forensics recipe, on a pretrained encoder's intermediate tokens) and the image score is
the mean of its most-fake tokens' logits. The 14x14 token logits are the branch's heatmap.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from safetensors.numpy import load_file, save_file

from forensics.pretrained.clip_encoder import GRID, WIDTH
from forensics.pretrained.probe import fit_logistic


@dataclass
class TokenProbe:
    """logit(token) = coef . ((token - mean) / scale) + intercept; image logit = mean of the top
    `topk_fraction` of its token logits."""

    blocks: tuple[int, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    topk_fraction: float = 0.25

    @property
    def dim(self) -> int:
        return WIDTH * len(self.blocks)

    def token_logits(self, tokens: np.ndarray, *, chunk: int = 256) -> np.ndarray:
        """(N, T, dim) tokens -> (N, T) logits."""
        w = (self.coef / self.scale).astype(np.float32)
        b = float(self.intercept - (self.mean / self.scale) @ self.coef)
        out = np.empty(tokens.shape[:2], np.float32)
        for i in range(0, len(tokens), chunk):
            out[i:i + chunk] = tokens[i:i + chunk].astype(np.float32) @ w + b
        return out

    def aggregate(self, token_logits: np.ndarray, topk_fraction: Optional[float] = None) -> np.ndarray:
        frac = self.topk_fraction if topk_fraction is None else topk_fraction
        k = max(1, int(round(frac * token_logits.shape[1])))
        return np.sort(token_logits, axis=1)[:, -k:].mean(axis=1)

    def image_logits(self, tokens: np.ndarray) -> np.ndarray:
        return self.aggregate(self.token_logits(tokens))

    def token_map(self, hidden: dict[int, np.ndarray]) -> np.ndarray:
        """{block: (N, 197, 768)} -> (N, 14, 14) token logits."""
        tokens = np.concatenate([hidden[b][:, 1:] for b in self.blocks], axis=2)
        return self.token_logits(tokens).reshape(-1, GRID, GRID)

    def save(self, path: Path) -> None:
        save_file({"mean": self.mean.astype(np.float32), "scale": self.scale.astype(np.float32),
                   "coef": self.coef.astype(np.float32), "intercept": np.array([self.intercept], np.float32)},
                  str(path))

    @classmethod
    def load(cls, path: Path, blocks: tuple[int, ...], topk_fraction: float) -> "TokenProbe":
        t = load_file(str(path))
        dim = WIDTH * len(blocks)
        for k in ("mean", "scale", "coef"):
            if k not in t or t[k].shape != (dim,):
                raise ValueError(f"{path}: probe tensor {k} missing or not of shape ({dim},)")
        if "intercept" not in t or not np.all(t["scale"] > 0) or not all(np.isfinite(v).all() for v in t.values()):
            raise ValueError(f"{path}: probe lacks an intercept or holds non-finite values / non-positive scales")
        return cls(tuple(blocks), t["mean"], t["scale"], t["coef"], float(t["intercept"][0]), topk_fraction)


def fit_token_probe(tokens: np.ndarray, labels: np.ndarray, image_weights: np.ndarray, blocks: tuple[int, ...], *,
                    per_image: int = 24, l2: float = 1e-2, topk_fraction: float = 0.25, seed: int = 0,
                    max_iter: int = 150) -> TokenProbe:
    """Logistic regression on `per_image` randomly drawn tokens of each image, each token weighted by its
    image's weight / per_image (full-batch L-BFGS; `l2` on the sum of squared coefficients)."""
    rng = np.random.default_rng(seed)
    n, t, d = tokens.shape
    pick = np.stack([rng.choice(t, size=min(per_image, t), replace=False) for _ in range(n)])
    x = tokens[np.arange(n)[:, None], pick].reshape(-1, d).astype(np.float32)
    y = np.repeat(np.asarray(labels, np.float32), pick.shape[1])
    w = np.repeat(np.asarray(image_weights, np.float32), pick.shape[1])
    mean, scale, coef, bias = fit_logistic(x, y, w, l2=l2, max_iter=max_iter)
    return TokenProbe(tuple(blocks), mean, scale, coef, bias, topk_fraction)
