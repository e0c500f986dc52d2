"""Figures of a cross-fit (`forensics.pretrained.selection`): per left-out family AP clean and
re-encoded, the share flagged at a threshold, and per real source the false-positive rate with its
95% upper bound (Clopper-Pearson, `forensics.metrics.rate_upper_bound`)."""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from forensics.metrics import rate_upper_bound

from forensics.pretrained.selection import CrossFit


def family_table(cf: CrossFit, threshold_logit: float, *, clean: str = "clean", degraded: Optional[str] = None,
                 transform: Callable[[np.ndarray], np.ndarray] = lambda x: x) -> list[dict[str, Any]]:
    """One row per left-out family: n, AP/AUC clean, AP re-encoded, share flagged clean and re-encoded."""
    rows = cf.rows
    out = []
    for fam, fl in cf.fake_logit.items():
        rec: dict[str, Any] = {"family": fam}
        real_l = cf.real_logit_without[fam]
        for name, cond in (("clean", clean), ("degraded", degraded)):
            if cond is None:
                continue
            fm = (rows.label == 1) & (rows.family == fam) & (rows.condition == cond) & np.isfinite(fl)
            rm = (rows.label == 0) & (rows.condition == cond) & np.isfinite(real_l)
            if not fm.any() or not rm.any():
                continue
            f, r = transform(fl[fm]), transform(real_l[rm])
            y = np.r_[np.zeros(r.size), np.ones(f.size)]
            s = np.r_[r, f]
            # AP depends on the class balance: weight reals and fakes equally so families of any size compare
            w = np.r_[np.full(r.size, 0.5 / r.size), np.full(f.size, 0.5 / f.size)]
            rec[f"n_{name}"] = int(f.size)
            rec[f"ap_{name}"] = float(average_precision_score(y, s, sample_weight=w))
            rec[f"auc_{name}"] = float(roc_auc_score(y, s))
            rec[f"flagged_{name}"] = float((f >= threshold_logit).mean())
        out.append(rec)
    return out


def real_table(cf: CrossFit, threshold_logit: float, *, conditions: tuple[str, ...] = ("clean",),
               transform: Callable[[np.ndarray], np.ndarray] = lambda x: x) -> list[dict[str, Any]]:
    """One row per real source: n, false positives and FPR (with its 95% upper bound) per condition,
    on scores of models that never saw the source."""
    rows = cf.rows
    out = []
    for src in sorted(set(rows.source[rows.label == 0])):
        if not np.isfinite(cf.real_logit[rows.source == src]).any():
            continue  # a source these scores leave out
        rec: dict[str, Any] = {"source": src, "kind": str(rows.family[(rows.source == src)][0])}
        for cond in conditions:
            m = (rows.source == src) & (rows.condition == cond)
            s = transform(cf.real_logit[m])
            fp = int((s >= threshold_logit).sum())
            rec[f"n_{cond}"] = int(m.sum())
            rec[f"fp_{cond}"] = fp
            rec[f"fpr_{cond}"] = fp / max(1, int(m.sum()))
            rec[f"fpr_upper_{cond}"] = rate_upper_bound(fp, int(m.sum())) if m.any() else 1.0
        out.append(rec)
    return out
