"""Detection metrics with fake as the positive class (scikit-learn)."""
from __future__ import annotations

from typing import Any

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
