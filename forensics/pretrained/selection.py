"""Model selection on generators a model never saw: leave-family-out cross-fitting.

For every fake family F and every group g of real sources, a probe is fitted without F's fakes and
without g's reals, and scores both: each fake of F is scored by models that never saw its generator
family, and each real photo by a model that never saw its source. Real scores from models fitted
without g only (all fakes kept) calibrate the threshold on held-out real sources.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

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
    # the same, one row per dealing of the real sources before averaging (`cross_fit(dealings=N)`); empty for one
    real_logit_dealings: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def map(self, fn: Callable[[np.ndarray, Callable[["CrossFit"], np.ndarray]], np.ndarray]) -> "CrossFit":
        """A cross-fit of the same design with `fn(logits, pick)` applied to each of its logit arrays; `pick(other)`
        gives another cross-fit's array of the same place (the same left-out family, the same dealing), so scores of
        one held-out design combine with another's row by row."""
        out = CrossFit(rows=self.rows)
        for fam, fl in self.fake_logit.items():
            out.fake_logit[fam] = fn(fl, lambda c: c.fake_logit[fam])
            out.real_logit_without[fam] = fn(self.real_logit_without[fam], lambda c: c.real_logit_without[fam])
        out.real_logit = fn(self.real_logit, lambda c: c.real_logit)
        if self.real_logit_dealings.size:
            out.real_logit_dealings = np.stack([fn(d, lambda c, i=i: c.real_logit_dealings[i])
                                                for i, d in enumerate(self.real_logit_dealings)])
        return out


def dealt(counts: dict[str, int], n_groups: int, dealing: int = 0) -> dict[str, int]:
    """Names dealt into `n_groups` groups, each onto the group with the smallest total count so far, deterministic:
    dealing 0 deals the largest first (groups of similar totals); dealing d > 0 deals them in an order drawn with
    seed d, which gives other groups (their totals can differ more when a large name comes late)."""
    load = [0] * n_groups
    out = {}
    order = sorted(counts.items(), key=lambda t: (-t[1], t[0]))
    if dealing:
        order = [order[i] for i in np.random.default_rng(dealing).permutation(len(order))]
    for name, c in order:
        g = int(np.argmin(load))
        out[name] = g
        load[g] += int(c)
    return out


def dealt_by_count(names: np.ndarray, n_groups: int, dealing: int = 0) -> dict[str, int]:
    """The distinct values of `names` dealt into `n_groups` groups by how often each occurs (`dealt`)."""
    return dealt({str(v): int(c) for v, c in zip(*np.unique(names, return_counts=True))}, n_groups, dealing)


def real_groups(rows: Rows, n_groups: int, together: Mapping[str, str] | None = None,
                dealing: int = 0) -> dict[str, int]:
    """Real sources dealt into `n_groups` groups of similar image counts, deterministic (`dealt`; dealing 0
    deals the largest first). Sources that `together` maps to one origin (e.g. several repositories' samples
    of one dataset) are dealt as one unit, so a held-out source is never scored by a probe trained on a
    sibling of it."""
    together = together or {}
    real = rows.source[rows.label == 0]
    units = dealt_by_count(np.array([together.get(str(s), str(s)) for s in real]), n_groups, dealing)
    return {str(s): units[together.get(str(s), str(s))] for s in np.unique(real)}


def cross_fit(rows: Rows, fit: FitFn, *, n_groups: int = 3, train_conditions: Sequence[str] | None = None,
              families: Sequence[str] | None = None, progress: Callable[[str], None] | None = None,
              together: Mapping[str, str] | None = None, lineage: Mapping[str, str] | None = None,
              dealings: int = 1) -> CrossFit:
    """Leave-family-out x leave-real-group-out scores. `train_conditions` limits which conditions'
    rows are trained on (all by default); every row is scored. `together`: real source -> origin, for
    sources held out as one (`real_groups`). `lineage`: fake family -> the family whose architecture it is
    built on; a family is left out of training together with every family of its lineage, and each is still
    scored as itself. `dealings` > 1 repeats the whole cross-fit with that many different dealings of the
    real sources into groups (`real_groups`) and averages every row's logits over them: which sources share a
    held-out group moves a family's AP by up to 0.1, and the average no longer hangs on one dealing. The real rows'
    logits of each dealing are kept too (`real_logit_dealings`): a user runs one probe, not the average of several,
    so a threshold is calibrated on them, not on the average."""
    if dealings < 1:
        raise ValueError(f"dealings must be >= 1, got {dealings}")
    runs = [_cross_fit_once(rows, fit, n_groups=n_groups, train_conditions=train_conditions, families=families,
                            progress=progress, together=together, lineage=lineage, dealing=d)
            for d in range(dealings)]
    if dealings == 1:
        return runs[0]
    out = CrossFit(rows=rows)
    for fam in runs[0].fake_logit:
        out.fake_logit[fam] = np.mean([r.fake_logit[fam] for r in runs], axis=0)
        out.real_logit_without[fam] = np.mean([r.real_logit_without[fam] for r in runs], axis=0)
    out.real_logit = np.mean([r.real_logit for r in runs], axis=0)
    out.real_logit_dealings = np.stack([r.real_logit for r in runs])
    return out


def _cross_fit_once(rows: Rows, fit: FitFn, *, n_groups: int, train_conditions: Sequence[str] | None,
                    families: Sequence[str] | None, progress: Callable[[str], None] | None,
                    together: Mapping[str, str] | None, lineage: Mapping[str, str] | None, dealing: int) -> CrossFit:
    """One cross-fit under one dealing of the real sources (`cross_fit`)."""
    groups = real_groups(rows, n_groups, together, dealing)
    real_group = np.array([groups.get(str(s), -1) for s in rows.source])
    trainable = np.ones(len(rows.label), bool) if train_conditions is None else np.isin(rows.condition, train_conditions)
    is_fake = rows.label == 1
    fams = list(families) if families is not None else sorted(set(rows.family[is_fake]))
    lineage = lineage or {}
    line_of = np.array([lineage.get(str(f), str(f)) for f in rows.family])
    out = CrossFit(rows=rows)
    n = len(rows.label)
    for fam in fams:
        fake_sum: np.ndarray | None = None
        real_l: np.ndarray | None = None
        for g in range(n_groups):
            train = trainable & ~(is_fake & (line_of == lineage.get(fam, fam))) & ~(~is_fake & (real_group == g))
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


def image_folds(keys: np.ndarray, n_folds: int) -> np.ndarray:
    """Fold of each row by a stable hash of its image key: an image's conditions share a fold."""
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    return np.array([zlib.crc32(str(k).encode()) % n_folds for k in keys])


def restricted(fit: FitFn, trainable: np.ndarray) -> FitFn:
    """A cross_fit fit function that fits only on the rows where `trainable` (one flag per row of the
    Rows being cross-fitted, whose `feats` hold row indices as `load_tokens` makes them) is set; every row
    is still scored."""
    trainable = np.asarray(trainable, bool)
    if trainable.all():
        return fit

    def fit_trainable(idx: np.ndarray, y: np.ndarray, src: np.ndarray):
        keep = trainable[idx[:, 0]]
        return fit(idx[keep], y[keep], src[keep])

    return fit_trainable


def seen_family_logits(rows: Rows, fit: FitFn, *, n_folds: int = 5) -> np.ndarray:
    """Per row, the logit of a model fitted on every family and source but not on the row's image (`image_folds`):
    what a new image of a generator the model trained on, or a new photo of a source it trained on, gets. The
    counterpart of `cross_fit`, whose rows come from families and sources the model never saw."""
    return _fold_logits(rows, fit, image_folds(rows.keys, n_folds), n_folds)


def column(cf: CrossFit, j: int) -> CrossFit:
    """The cross-fit of one score rule when the score function returned several logits per row."""
    out = CrossFit(rows=cf.rows)
    out.fake_logit = {k: v[:, j] for k, v in cf.fake_logit.items()}
    out.real_logit_without = {k: v[:, j] for k, v in cf.real_logit_without.items()}
    out.real_logit = cf.real_logit[:, j]
    return out


def fold_groups(family: np.ndarray, source: np.ndarray, label: np.ndarray,
                n_folds: int) -> tuple[np.ndarray, dict[str, int]]:
    """(fold of each row, fold of each fake family) of `grouped_cross_fit`'s design: fake families dealt
    into `n_folds` groups by row count, real sources likewise. Models that are not fitted on feature rows
    (a patch model trained on the images) use it to hold out the same groups."""
    is_fake = label == 1
    fam_group = dealt_by_count(family[is_fake], n_folds)
    real_group = dealt_by_count(source[~is_fake], n_folds)
    group = np.array([fam_group[str(f)] if y == 1 else real_group[str(s)] for f, s, y in zip(family, source, label)])
    return group, fam_group


def grouped_cross_fit(rows: Rows, fit: FitFn, *, n_folds: int = 3,
                      progress: Callable[[str], None] | None = None) -> CrossFit:
    """A cheaper leave-out design for costly fits: fake families and real sources are each dealt into
    `n_folds` groups; fold k is fitted without family group k and real group k, and scores both. Every
    fake is scored by a model that never saw its family (nor the families dealt with it), every real photo
    by one that never saw its source: `n_folds` fits instead of `families x groups`. Each family's reals
    are all real rows (`real_logit_without[family] = real_logit`)."""
    group, fam_group = fold_groups(rows.family, rows.source, rows.label, n_folds)
    say = None if progress is None else (lambda k: progress(
        f"fold {k + 1}/{n_folds}: families {sorted(f for f, g in fam_group.items() if g == k)}"))
    logit = _fold_logits(rows, fit, group, n_folds, progress=say)
    return held_out_crossfit(rows, logit)


def _fold_logits(rows: Rows, fit: FitFn, fold: np.ndarray, n_folds: int,
                 progress: Callable[[int], object] | None = None) -> np.ndarray:
    """Per row, the logits of the model fitted on the other folds' rows (folds with no row, or every row, are
    skipped; their rows stay nan). A score function may return several logits per row (see `column`)."""
    logit: np.ndarray | None = None
    for k in range(n_folds):
        held = fold == k
        if not held.any() or held.all():
            continue
        score = fit(rows.feats[~held], rows.label[~held], rows.source[~held])
        got = np.asarray(score(rows.feats[held]))
        if logit is None:
            logit = np.full((len(rows.label),) + got.shape[1:], np.nan)
        logit[held] = got
        if progress:
            progress(k)
    if logit is None:
        raise ValueError("cross-fitting needs rows in more than one fold")
    return logit


def held_out_crossfit(rows: Rows, logit: np.ndarray) -> CrossFit:
    """The cross-fit of per-row logits that already come from models blind to each row's family (fakes)
    and source (reals), as `grouped_cross_fit`'s folds or a patch model trained per fold give them."""
    is_fake = rows.label == 1
    out = CrossFit(rows=rows)
    shape = (-1,) + (1,) * (logit.ndim - 1)
    real = np.where((~is_fake).reshape(shape), logit, np.nan)
    for fam in np.unique(rows.family[is_fake]):
        out.fake_logit[str(fam)] = np.where((is_fake & (rows.family == fam)).reshape(shape), logit, np.nan)
        out.real_logit_without[str(fam)] = real
    out.real_logit = real
    return out
