"""The small combiner that fuses the pretrained branch's logit with the patch model's score.

fused logit = w_clip * clip_logit + w_patch * logit(patch P(fake)) + bias, fitted by weighted logistic
regression on cross-fitted scores (fakes of generator families neither branch trained on, real photos
of sources neither trained on), so its weights say how far each branch can be trusted on the unknown.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

EPS = 1e-6


def patch_logit(score: np.ndarray | float) -> np.ndarray:
    s = np.clip(np.asarray(score, dtype=float), EPS, 1 - EPS)
    return np.log(s / (1 - s))


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, dtype=float), -60, 60)))


@dataclass(frozen=True)
class Combiner:
    w_clip: float
    w_patch: float
    bias: float

    def logit(self, clip_logit: np.ndarray | float, patch_score: np.ndarray | float) -> np.ndarray:
        return self.w_clip * np.asarray(clip_logit, dtype=float) + self.w_patch * patch_logit(patch_score) + self.bias

    def to_dict(self) -> dict[str, float]:
        return {"w_clip": self.w_clip, "w_patch": self.w_patch, "bias": self.bias}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Combiner":
        try:
            vals = [float(d[k]) for k in ("w_clip", "w_patch", "bias")]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"combiner needs numbers w_clip, w_patch, bias, got {d!r}") from None
        if not all(np.isfinite(vals)):
            raise ValueError(f"combiner weights must be finite, got {d!r}")
        return cls(*vals)


def fit_combiner(clip_logit: np.ndarray, patch_score: np.ndarray, labels: np.ndarray,
                 weights: Optional[np.ndarray] = None, *, l2: float = 1e-3) -> Combiner:
    """Weighted logistic regression of the labels on (clip logit, patch logit) with a light L2 pull;
    negative branch weights are clipped to zero (a branch may be ignored, never inverted)."""
    x = np.column_stack([np.asarray(clip_logit, float), patch_logit(patch_score), np.ones(len(labels))])
    y = np.asarray(labels, float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    beta = np.zeros(3)
    free = np.array([True, True, True])
    for _ in range(200):
        p = sigmoid(x @ beta)
        grad = x.T @ (w * (p - y)) + l2 * np.r_[beta[:2], 0.0]
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + l2 * np.diag([1.0, 1.0, 0.0]) + 1e-9 * np.eye(3)
        step = np.zeros(3)
        step[free] = np.linalg.solve(hess[np.ix_(free, free)], grad[free])
        beta -= step
        clipped = free[:2] & (beta[:2] < 0)
        if clipped.any():
            beta[:2][clipped] = 0.0
            free[:2] &= ~clipped
        if np.abs(step).max() < 1e-10:
            break
    return Combiner(float(beta[0]), float(beta[1]), float(beta[2]))
