"""Patch (cell) logits -> one image score P(fake)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

AGGREGATIONS = ("mean_prob", "mean_logit", "vote", "topk")
DEFAULT_TOPK_FRACTION = 0.1


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def cell_fake_logit(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(2, h, w) two-class logits -> (h, w) fake-vs-real logit difference scaled by 1/T."""
    return (logits[1] - logits[0]) / float(temperature)


def cell_probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Per-cell softmax P(fake) map (h, w) from (2, h, w) logits."""
    return _sigmoid(cell_fake_logit(logits, temperature))


def aggregate_map(fake_logit: np.ndarray, method: str = "mean_prob", *,
                  topk_fraction: float = DEFAULT_TOPK_FRACTION) -> float:
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


@dataclass(frozen=True)
class ScoreRule:
    """How a detector turns its cell map into one image score: an aggregation method (and, for
    "topk", the share of most-fake cells it averages). Stored in a model's config.json as the
    fields "aggregation" and "topk_fraction"."""

    method: str = "mean_prob"
    topk_fraction: float = DEFAULT_TOPK_FRACTION

    def __post_init__(self) -> None:
        if self.method not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation '{self.method}'; choose one of {', '.join(AGGREGATIONS)}")
        if not 0.0 < self.topk_fraction <= 1.0:
            raise ValueError(f"top-k fraction must be in (0, 1], got {self.topk_fraction}")

    @classmethod
    def parse(cls, text: str) -> "ScoreRule":
        """`mean_prob`, `mean_logit`, `vote`, `topk` or `topk:FRACTION` (e.g. `topk:0.5`)."""
        method, _, frac = text.strip().partition(":")
        if frac and method != "topk":
            raise ValueError(f"aggregation '{text}': only topk takes a fraction (topk:0.5)")
        try:
            return cls(method, float(frac) if frac else DEFAULT_TOPK_FRACTION)
        except ValueError as e:
            raise ValueError(f"aggregation '{text}': {e}") from None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ScoreRule":
        return cls(str(config.get("aggregation", "mean_prob")),
                   float(config.get("topk_fraction", DEFAULT_TOPK_FRACTION)))

    def to_config(self) -> dict[str, Any]:
        """The config.json fields for this rule."""
        return {"aggregation": self.method, "topk_fraction": self.topk_fraction}

    @property
    def name(self) -> str:
        """Short spelling, the inverse of `parse`: `mean_prob`, `topk:0.5`."""
        return f"topk:{self.topk_fraction:g}" if self.method == "topk" else self.method

    def describe(self) -> str:
        """One phrase for reports."""
        return {"mean_prob": "mean of per-cell P(fake)", "mean_logit": "P(fake) of the mean cell logit",
                "vote": "share of cells voting fake",
                "topk": f"mean P(fake) of the {self.topk_fraction:.0%} most-fake cells"}[self.method]

    def __call__(self, fake_logit: np.ndarray) -> float:
        return aggregate_map(fake_logit, self.method, topk_fraction=self.topk_fraction)
