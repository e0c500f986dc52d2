"""Patch (cell) logits -> one image score P(fake)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

import numpy as np

AGGREGATIONS = ("mean_prob", "mean_logit", "vote", "topk")
# image scores are reported, and verdicts taken, at this precision (thresholds sit on the same grid)
SCORE_DECIMALS = 6
DEFAULT_TOPK_FRACTION = 0.1


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def cell_fake_logit(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(2, h, w) two-class logits -> (h, w) fake-vs-real logit difference scaled by 1/T."""
    return (logits[1] - logits[0]) / float(temperature)


def cell_probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Per-cell softmax P(fake) map (h, w) from (2, h, w) logits."""
    return _sigmoid(cell_fake_logit(logits, temperature))


def topk_count(cells: int, fraction: float) -> int:
    """How many of `cells` cells the topk rule averages: the rounded `fraction` of them, at least one."""
    return max(1, int(round(fraction * cells)))


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
        "topk": lambda: float(np.sort(_sigmoid(d))[-topk_count(d.size, topk_fraction):].mean()),
    }
    if method not in fn:
        raise ValueError(f"unknown aggregation '{method}'; choose one of {', '.join(AGGREGATIONS)}")
    return fn[method]()


def rescale(p: float, slope: float, intercept: float) -> float:
    """Platt rescaling of a probability: sigmoid(slope * logit(p) + intercept)."""
    q = min(max(float(p), 1e-15), 1.0 - 1e-15)
    z = slope * math.log(q / (1.0 - q)) + intercept
    return 1.0 / (1.0 + math.exp(-min(max(z, -60.0), 60.0)))


@dataclass(frozen=True)
class ScoreRule:
    """How a detector turns its cell map into one image score: an aggregation method (and, for
    "topk", the share of most-fake cells it averages), then optionally a Platt rescaling of the
    aggregated P(fake) (`slope`, `intercept`; identity by default) so the score reads as a probability.
    Stored in a model's config.json as "aggregation", "topk_fraction" and "score_scaling"."""

    method: str = "mean_prob"
    topk_fraction: float = DEFAULT_TOPK_FRACTION
    slope: float = 1.0
    intercept: float = 0.0

    def __post_init__(self) -> None:
        if self.method not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation '{self.method}'; choose one of {', '.join(AGGREGATIONS)}")
        if not 0.0 < self.topk_fraction <= 1.0:
            raise ValueError(f"top-k fraction must be in (0, 1], got {self.topk_fraction}")
        if not (math.isfinite(self.slope) and 0.0 < self.slope <= 100.0 and math.isfinite(self.intercept)
                and abs(self.intercept) <= 100.0):
            raise ValueError(f"score scaling needs a slope in (0, 100] and an intercept in [-100, 100], "
                             f"got {self.slope}, {self.intercept}")

    @property
    def is_rescaled(self) -> bool:
        return (self.slope, self.intercept) != (1.0, 0.0)

    def with_scaling(self, slope: float = 1.0, intercept: float = 0.0) -> "ScoreRule":
        """The same aggregation with another rescaling (the default: none)."""
        return replace(self, slope=float(slope), intercept=float(intercept))

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
        scaling: Optional[dict[str, Any]] = config.get("score_scaling")
        return cls(str(config.get("aggregation", "mean_prob")),
                   float(config.get("topk_fraction", DEFAULT_TOPK_FRACTION)),
                   float((scaling or {}).get("slope", 1.0)), float((scaling or {}).get("intercept", 0.0)))

    def to_config(self) -> dict[str, Any]:
        """The config.json fields for this rule ("score_scaling" is null without a rescaling, so that
        updating a config with these fields also clears an old one)."""
        return {"aggregation": self.method, "topk_fraction": self.topk_fraction,
                "score_scaling": {"method": "platt", "slope": self.slope, "intercept": self.intercept}
                if self.is_rescaled else None}

    @property
    def name(self) -> str:
        """Short spelling, the inverse of `parse`: `mean_prob`, `topk:0.5`."""
        return f"topk:{self.topk_fraction:g}" if self.method == "topk" else self.method

    def describe(self) -> str:
        """One phrase for reports."""
        text = {"mean_prob": "mean of per-cell P(fake)", "mean_logit": "P(fake) of the mean cell logit",
                "vote": "share of cells voting fake",
                "topk": f"mean P(fake) of the {self.topk_fraction:.0%} most-fake cells"}[self.method]
        return text + (f", Platt-rescaled (slope {self.slope:.3f}, intercept {self.intercept:+.3f})"
                       if self.is_rescaled else "")

    def __call__(self, fake_logit: np.ndarray) -> float:
        p = aggregate_map(fake_logit, self.method, topk_fraction=self.topk_fraction)
        return rescale(p, self.slope, self.intercept) if self.is_rescaled else p
