"""Model selection on generators a model never saw: leave-family-out cross-fitting.

For every fake family F and every group g of real sources, a probe is fitted without F's fakes and
without g's reals, and scores both: each fake of F is scored by models that never saw its generator
family, and each real photo by a model that never saw its source. Real scores from models fitted
without g only (all fakes kept) calibrate the threshold on held-out real sources.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

# fit(features, labels, sources) -> score function (features -> logits)
FitFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


@dataclass
class Rows:
    """Feature rows with what each row is: one image under one condition (clean, re-encoded, ...)."""

    feats: np.ndarray
    keys: np.ndarray  # image key (source/relative path), shared by an image's conditions
    label: np.ndarray
    family: np.ndarray
    source: np.ndarray
    condition: np.ndarray

    def subset(self, mask: np.ndarray) -> "Rows":
        return Rows(self.feats[mask], self.keys[mask], self.label[mask], self.family[mask], self.source[mask],
                    self.condition[mask])


@dataclass
class CrossFit:
    """Out-of-family fake logits and out-of-source real logits, one entry per row of `rows`."""

    rows: Rows
    fake_logit: dict[str, np.ndarray] = field(default_factory=dict)  # family -> logits of all rows (nan elsewhere)
    real_logit_without: dict[str, np.ndarray] = field(default_factory=dict)  # family -> real rows' logits
    real_logit: np.ndarray = field(default_factory=lambda: np.zeros(0))  # real rows, models with every fake


def real_groups(rows: Rows, n_groups: int) -> dict[str, int]:
    """Real sources dealt into `n_groups` groups of similar image counts (largest first), deterministic."""
    sources, counts = np.unique(rows.source[rows.label == 0], return_counts=True)
    order = sorted(zip(counts, sources), key=lambda t: (-t[0], t[1]))
    load = [0] * n_groups
    out = {}
    for c, s in order:
        g = int(np.argmin(load))
        out[str(s)] = g
        load[g] += int(c)
    return out


def cross_fit(rows: Rows, fit: FitFn, *, n_groups: int = 3, train_conditions: Sequence[str] | None = None,
              families: Sequence[str] | None = None, progress: Callable[[str], None] | None = None) -> CrossFit:
    """Leave-family-out x leave-real-group-out scores. `train_conditions` limits which conditions'
    rows are trained on (all by default); every row is scored."""
    groups = real_groups(rows, n_groups)
    real_group = np.array([groups.get(str(s), -1) for s in rows.source])
    trainable = np.ones(len(rows.label), bool) if train_conditions is None else np.isin(rows.condition, train_conditions)
    is_fake = rows.label == 1
    fams = list(families) if families is not None else sorted(set(rows.family[is_fake]))
    out = CrossFit(rows=rows)
    n = len(rows.label)
    for fam in fams:
        fake_sum: np.ndarray | None = None
        real_l: np.ndarray | None = None
        for g in range(n_groups):
            train = trainable & ~(is_fake & (rows.family == fam)) & ~(~is_fake & (real_group == g))
            score = fit(rows.feats[train], rows.label[train], rows.source[train])
            target = (is_fake & (rows.family == fam)) | (~is_fake & (real_group == g))
            logits = np.asarray(score(rows.feats[target]))
            if fake_sum is None:  # a score function may return several logits per row (e.g. one per rule)
                fake_sum = np.zeros((n,) + logits.shape[1:])
                real_l = np.full((n,) + logits.shape[1:], np.nan)
            fake_sum[target & is_fake] += logits[is_fake[target]]
            real_l[target & ~is_fake] = logits[~is_fake[target]]
        fl = np.full(fake_sum.shape, np.nan)
        fl[is_fake & (rows.family == fam)] = fake_sum[is_fake & (rows.family == fam)] / n_groups
        out.fake_logit[fam] = fl
        out.real_logit_without[fam] = real_l
        if progress:
            progress(fam)
    real_all: np.ndarray | None = None
    for g in range(n_groups):
        train = trainable & ~(~is_fake & (real_group == g))
        score = fit(rows.feats[train], rows.label[train], rows.source[train])
        target = ~is_fake & (real_group == g)
        logits = np.asarray(score(rows.feats[target]))
        if real_all is None:
            real_all = np.full((n,) + logits.shape[1:], np.nan)
        real_all[target] = logits
    out.real_logit = real_all
    return out


def column(cf: CrossFit, j: int) -> CrossFit:
    """The cross-fit of one score rule when the score function returned several logits per row."""
    out = CrossFit(rows=cf.rows)
    out.fake_logit = {k: v[:, j] for k, v in cf.fake_logit.items()}
    out.real_logit_without = {k: v[:, j] for k, v in cf.real_logit_without.items()}
    out.real_logit = cf.real_logit[:, j]
    return out
