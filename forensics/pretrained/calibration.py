"""A verdict threshold on many real photos of many kinds, where one odd photo cannot set it.

Each real source counts equally (a source of 40 phone photos weighs as much as 600 CelebA faces), the
false-positive rate averaged over sources is held at the target, and optionally no single source may
exceed a cap. Scores are those of models that never saw the source (cross-fitting), so the threshold
is one for photos of kinds the model was not trained on.
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def balanced_fpr(scores: np.ndarray, sources: np.ndarray, threshold: float) -> tuple[float, dict[str, float]]:
    """(mean over sources of each source's FPR at `threshold`, {source: FPR})."""
    per = {str(s): float((scores[sources == s] >= threshold).mean()) for s in np.unique(sources)}
    return float(np.mean(list(per.values()))), per


def allowed_false_positives(n: int, cap: float) -> int:
    """False positives a source of `n` photos may have under a per-source cap: the cap's share, but at
    least one photo, so that no single odd photo of a small source sets the threshold."""
    return max(1, int(np.floor(cap * n + 1e-9)))


def balanced_threshold(scores: np.ndarray, sources: np.ndarray, target: float, *,
                       per_source_cap: Optional[float] = None, repeats: int = 1) -> float:
    """Smallest threshold (among midpoints of the sorted scores) whose source-averaged FPR is at most
    `target` and, with `per_source_cap`, no source above `allowed_false_positives(n, cap)`. With `repeats`
    > 1 every photo appears that many times (e.g. scored by the probes of several cross-fits): a source's
    FPR is the mean over its repeats and its allowance is `repeats` times that of its `n / repeats` photos."""
    scores = np.asarray(scores, dtype=float)
    sources = np.asarray(sources)
    if scores.size == 0:
        raise ValueError("no real scores to calibrate on")
    if not 0 < target < 1:
        raise ValueError("target FPR must be in (0, 1)")
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    names, inverse = np.unique(sources, return_inverse=True)
    counts = np.bincount(inverse).astype(float)
    allowed = np.array([allowed_false_positives(int(round(c / repeats)), per_source_cap) * repeats
                        for c in counts]) if per_source_cap is not None else None
    weight = 1.0 / (len(names) * counts[inverse])  # each source sums to 1 / n_sources
    order = np.argsort(-scores)
    s, w, src = scores[order], weight[order], inverse[order]
    above = np.cumsum(w)  # weighted FPR if the threshold sits just under s[i]
    per_above = np.zeros(len(names))
    best = float(s[0]) + 1e-6
    for i in range(len(s)):
        per_above[src[i]] += 1
        if above[i] > target + 1e-12:
            break
        if allowed is not None and per_above[src[i]] > allowed[src[i]]:
            break
        if i + 1 < len(s) and s[i + 1] == s[i]:
            continue  # ties: the threshold cannot fall between equal scores
        nxt = s[i + 1] if i + 1 < len(s) else s[i] - 1.0
        best = float((s[i] + nxt) / 2)
    return best
