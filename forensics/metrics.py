"""Detection metrics with fake as the positive class (scikit-learn)."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr_target: float) -> float:
    """Highest TPR with FPR <= target (fake = positive)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    ok = fpr <= fpr_target + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """AP, ROC AUC, accuracy at `threshold`, TPR at 1%/5% FPR, per-class error rates."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=float)
    n_pos, n_neg = int(labels.sum()), int((1 - labels).sum())
    out: dict[str, Any] = {"n_fake": n_pos, "n_real": n_neg, "threshold": threshold}
    pred = scores >= threshold
    out["accuracy"] = float((pred == labels.astype(bool)).mean()) if labels.size else float("nan")
    out["fpr"] = float(pred[labels == 0].mean()) if n_neg else float("nan")
    out["tpr"] = float(pred[labels == 1].mean()) if n_pos else float("nan")
    if n_pos and n_neg:
        out["ap"] = float(average_precision_score(labels, scores))
        out["roc_auc"] = float(roc_auc_score(labels, scores))
        out["tpr_at_fpr_1"] = tpr_at_fpr(labels, scores, 0.01)
        out["tpr_at_fpr_5"] = tpr_at_fpr(labels, scores, 0.05)
    else:
        out["ap"] = out["roc_auc"] = out["tpr_at_fpr_1"] = out["tpr_at_fpr_5"] = float("nan")
    return out


def calibration_error(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None,
                      bins: int = 10) -> dict[str, Any]:
    """How well scores read as P(fake): expected calibration error (ECE, the weighted mean gap between
    the mean score and the share of fakes over `bins` equal-width score bins), log loss and Brier score,
    and the reliability table. `weights` set the class prior (e.g. half the weight on each class)."""
    labels = np.asarray(labels, dtype=float)
    scores = np.asarray(scores, dtype=float)
    w = np.ones_like(scores) if weights is None else np.asarray(weights, dtype=float)
    if not (labels.shape == scores.shape == w.shape) or labels.size == 0:
        raise ValueError("labels, scores and weights must be non-empty and of one shape")
    if w.min() < 0 or w.sum() <= 0:
        raise ValueError("weights must be non-negative and not all zero")
    w = w / w.sum()
    which = np.minimum((np.clip(scores, 0.0, 1.0) * bins).astype(int), bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if not m.any() or w[m].sum() == 0:
            continue
        mean_score = float(np.average(scores[m], weights=w[m]))
        fake_share = float(np.average(labels[m], weights=w[m]))
        ece += float(w[m].sum()) * abs(mean_score - fake_share)
        table.append({"bin": [b / bins, (b + 1) / bins], "weight": float(w[m].sum()), "n": int(m.sum()),
                      "mean_score": mean_score, "fake_share": fake_share})
    p = np.clip(scores, 1e-7, 1 - 1e-7)
    log_loss = float(-np.sum(w * (labels * np.log(p) + (1 - labels) * np.log(1 - p))))
    return {"ece": ece, "log_loss": log_loss, "brier": float(np.sum(w * (scores - labels) ** 2)), "bins": table}


def rate_upper_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on a rate seen as `k` events in `n` trials (e.g. false
    positives among n real images): with 0 of 29, the true rate is below 0.098 at 95% confidence."""
    from scipy.stats import beta

    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return 1.0 if k == n else float(beta.ppf(confidence, k + 1, n - k))


def balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-sample weights that give each class half the total (for a 50/50 prior), e.g. for `calibration_error`."""
    labels = np.asarray(labels).astype(int)
    w = np.zeros(labels.size, dtype=float)
    for c in (0, 1):
        n = int((labels == c).sum())
        if n:
            w[labels == c] = 0.5 / n
    return w


def mean_ap(scores: Mapping[str, np.ndarray], reals: Sequence[str], fakes: Sequence[str],
            index: Optional[Mapping[str, np.ndarray]] = None) -> float:
    """Mean over `fakes` of the AP of each fake set against all `reals` pooled (fake = positive);
    `index` picks (possibly repeated) files of each set, as a bootstrap draw does."""
    pick = (lambda n: scores[n]) if index is None else (lambda n: np.asarray(scores[n])[index[n]])
    real = np.concatenate([pick(n) for n in reals])
    aps = []
    for f in fakes:
        fake = pick(f)
        aps.append(average_precision_score(np.r_[np.zeros(real.size), np.ones(fake.size)], np.r_[real, fake]))
    return float(np.mean(aps))


def paired_bootstrap_mean_ap(base: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray],
                             reals: Sequence[str], fakes: Sequence[str], *, rounds: int = 400,
                             seed: int = 0) -> dict[str, float]:
    """How surely `other` scores a higher mean AP (`mean_ap`) than `base` on the same files: the
    difference other - base, its 95% paired bootstrap interval (each set's files drawn with replacement,
    the same draw for both models) and the share of draws in which other is not higher."""
    sets = [*reals, *fakes]
    sizes = {n: len(base[n]) for n in sets}
    if any(len(other[n]) != sizes[n] for n in sets):
        raise ValueError("both models must be scored on the same files of every set")
    rng = np.random.default_rng(seed)
    diffs = np.empty(rounds)
    for i in range(rounds):
        index = {n: rng.integers(0, sizes[n], sizes[n]) for n in sets}
        diffs[i] = mean_ap(other, reals, fakes, index) - mean_ap(base, reals, fakes, index)
    low, high = np.quantile(diffs, [0.025, 0.975])
    return {"difference": mean_ap(other, reals, fakes) - mean_ap(base, reals, fakes), "low": float(low),
            "high": float(high), "share_not_higher": float(np.mean(diffs <= 0)), "rounds": rounds}
