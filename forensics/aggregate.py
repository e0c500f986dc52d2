"""Patch (cell) logits -> one image score P(fake)."""
from __future__ import annotations

from typing import Callable

import numpy as np

AGGREGATIONS = ("mean_prob", "mean_logit", "vote", "topk")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def cell_fake_logit(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(2, h, w) two-class logits -> (h, w) fake-vs-real logit difference scaled by 1/T."""
    return (logits[1] - logits[0]) / float(temperature)


def cell_probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Per-cell softmax P(fake) map (h, w) from (2, h, w) logits."""
    return _sigmoid(cell_fake_logit(logits, temperature))


def aggregate_map(fake_logit: np.ndarray, method: str = "mean_prob", *, topk_fraction: float = 0.1) -> float:
    """Image P(fake) from a map of per-cell fake logits.

    mean_prob: mean of per-cell softmax probabilities (reference default, 'after softmax');
    mean_logit: softmax of the mean logit; vote: fraction of cells voting fake;
    topk: mean probability of the top `topk_fraction` most-fake cells.
    """
    d = np.asarray(fake_logit, dtype=np.float64).ravel()
    if d.size == 0:
        raise ValueError("empty cell map")
    fn: dict[str, Callable[[], float]] = {
        "mean_prob": lambda: float(_sigmoid(d).mean()),
        "mean_logit": lambda: float(_sigmoid(d.mean())),
        "vote": lambda: float((d > 0).mean()),
        "topk": lambda: float(np.sort(_sigmoid(d))[-max(1, int(round(topk_fraction * d.size))):].mean()),
    }
    if method not in fn:
        raise ValueError(f"unknown aggregation '{method}'; choose one of {', '.join(AGGREGATIONS)}")
    return fn[method]()
