"""Kinds of picture with their own verdict threshold: a kind probe recognises them, an offset calibrates them.

Some real captures score high on the fused score whatever the probe is trained on: false-colour thermal
images are the clearest case (reports/fused/selection.md, sections 37-39). With one threshold for every
picture, the least familiar real kind sets it for all. A kind is recognisable as such, so it can have its
own threshold: a linear probe on the pretrained branch's own features (no extra encoder pass) says whether an
image is of the kind, and an image recognised as it gets a logit `offset` added to its fused score, so that the
one verdict threshold means, for that kind, the threshold calibrated on held-out real photos of that kind.

Everything is cross-fitted like the verdict probe (`forensics.pretrained.selection.cross_fit`): a held-out real
source is routed by a kind probe that never saw it, a left-out fake family by one that never saw that family, so
the figures count the photos and fakes that routing gets wrong.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from forensics.fileio import current_umask
from forensics.pretrained.calibration import balanced_threshold
from forensics.pretrained.combiner import sigmoid
from forensics.pretrained.probe import LinearProbe, balanced_weights, fit_probe
from forensics.pretrained.selection import CrossFit


@dataclass(frozen=True)
class KindSpec:
    """A kind as a recipe declares it: its name and the real-photo families or sources that show it."""

    name: str
    members: tuple[str, ...]  # family or source names of the recipe's real sources
    l2: float = 1e-2

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "KindSpec":
        name = str(d.get("name", ""))
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"image_kinds: a kind needs a plain name (letters, digits, - or _), got {name!r}")
        members = tuple(str(m) for m in d.get("members", ()))
        if not members:
            raise ValueError(f"image_kinds: kind {name!r} names no members (real families or sources)")
        return cls(name, members, float(d.get("l2", 1e-2)))

    def of_sources(self, sources: np.ndarray, family_of: dict[str, str]) -> np.ndarray:
        """1 for rows whose source (or its family) is a member, else 0."""
        return np.array([s in self.members or family_of.get(str(s)) in self.members for s in sources], np.int64)


def kind_specs(cfg: dict[str, Any]) -> list[KindSpec]:
    """The recipe's `image_kinds` (a list of {"name", "members", "l2"}), in the order routing tries them."""
    specs = [KindSpec.from_dict(d) for d in cfg.get("image_kinds") or []]
    names = [k.name for k in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"image_kinds: names repeat: {names}")
    return specs


def kind_fitter(spec: KindSpec, features: Callable[[np.ndarray], np.ndarray], family_of: dict[str, str],
                feature_spec: Any) -> Callable[..., Callable[[np.ndarray], np.ndarray]]:
    """A `cross_fit` fit function for the kind probe: it ignores the real/fake labels it is given and fits
    "member of the kind" against everything else (fakes included), each source weighted equally within its
    class; `features(idx)` gives the rows' feature vectors."""
    def fit(idx: np.ndarray, _labels: np.ndarray, src: np.ndarray):
        y = spec.of_sources(src, family_of)
        if y.min() == y.max():  # a fold without members (or only members) routes every row one way
            return lambda jdx: np.full(len(jdx), -np.inf if y.max() == 0 else np.inf)
        probe = fit_kind_probe(spec, features(idx[:, 0]), src, family_of, feature_spec)
        return lambda jdx: probe.logits(features(jdx[:, 0]))

    return fit


def fit_kind_probe(spec: KindSpec, feats: np.ndarray, sources: np.ndarray, family_of: dict[str, str],
                   feature_spec: Any) -> LinearProbe:
    """The shipped kind probe, fitted on every row given."""
    y = spec.of_sources(sources, family_of)
    if y.min() == y.max():
        raise ValueError(f"image_kinds: kind {spec.name!r} has no {'member' if y.max() == 0 else 'other'} rows to fit on")
    return fit_probe(feats, y, feature_spec, weights=balanced_weights(y, sources), l2=spec.l2)


def route(kind_logits: Sequence[np.ndarray]) -> np.ndarray:
    """Index of the kind each row is routed to, -1 for none: the first kind (in recipe order) whose logit is > 0.
    NaN logits (rows a cross-fit did not score) route nowhere."""
    if not len(kind_logits):
        return np.zeros(0, np.int64)
    out = np.full(np.shape(kind_logits[0]), -1, np.int64)
    for k in range(len(kind_logits) - 1, -1, -1):
        out = np.where(np.nan_to_num(np.asarray(kind_logits[k], float), nan=-np.inf) > 0, k, out)
    return out


def shift(logits: np.ndarray, routed: np.ndarray, offsets: Sequence[float]) -> np.ndarray:
    """`logits` plus each row's kind offset (0 for rows routed to no kind)."""
    table = np.append(np.asarray(offsets, float), 0.0)  # index -1 reads the trailing 0
    return np.asarray(logits, float) + table[routed]


def kind_offsets(real_dealings: Sequence[np.ndarray], routed_dealings: Sequence[np.ndarray], sources: np.ndarray,
                 n_kinds: int, target: float, cap: Optional[float]) -> tuple[list[float], float, list[Optional[float]]]:
    """(offset per kind, threshold logit of the photos routed to no kind, threshold logit per kind) from held-out
    real photos' fused logits (one array per dealing, `sources` per photo) and their routing (same layout). Each
    threshold is the verdict rule (source-balanced `target`, per-source `cap`, dealings pooled) on the photos routed
    there; a kind's offset moves its threshold onto the general one. A kind no held-out photo was routed to gets
    offset 0."""
    def threshold(where: Callable[[np.ndarray], np.ndarray]) -> Optional[float]:
        scores, srcs = [], []
        for logits, routed in zip(real_dealings, routed_dealings):
            m = where(routed)
            scores.append(np.asarray(logits)[m])
            srcs.append(sources[m])
        s = np.concatenate(scores)
        if not s.size:
            return None
        return balanced_threshold(s, np.concatenate(srcs), target, per_source_cap=cap, repeats=len(real_dealings))

    general = threshold(lambda r: r < 0)
    if general is None:
        raise ValueError("image_kinds: every held-out real photo was routed to a kind; nothing calibrates the rest")
    per_kind = [threshold(lambda r, k=k: r == k) for k in range(n_kinds)]
    return [0.0 if t is None else general - t for t in per_kind], general, per_kind


def shifted_crossfit(fused: CrossFit, kinds: Sequence[CrossFit], offsets: Sequence[float]) -> CrossFit:
    """The fused cross-fit with every row's kind offset added, each row routed by the kind cross-fit of the same
    held-out design (a left-out family's fakes by kind probes fitted without it, held-out photos likewise)."""
    out = CrossFit(rows=fused.rows)
    for fam, fl in fused.fake_logit.items():
        out.fake_logit[fam] = shift(fl, route([k.fake_logit[fam] for k in kinds]), offsets)
        out.real_logit_without[fam] = shift(fused.real_logit_without[fam],
                                            route([k.real_logit_without[fam] for k in kinds]), offsets)
    out.real_logit = shift(fused.real_logit, route([k.real_logit for k in kinds]), offsets)
    if fused.real_logit_dealings.size:
        out.real_logit_dealings = np.stack([
            shift(d, route([k.real_logit_dealings[i] for k in kinds]), offsets)
            for i, d in enumerate(fused.real_logit_dealings)])
    return out


def routing_table(kinds: Sequence[CrossFit], specs: Sequence[KindSpec], family_of: dict[str, str],
                  condition_mask: np.ndarray) -> dict[str, Any]:
    """How the cross-fitted kind probes route rows under `condition_mask`: per kind, the share of each member source's
    held-out photos routed to it, and the other photos and the left-out fakes routed to it (per source / family,
    only where any are)."""
    rows = kinds[0].rows
    real = (rows.label == 0) & condition_mask
    routed_real = route([k.real_logit for k in kinds])
    out: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        member = spec.of_sources(rows.source, family_of).astype(bool)
        members = {str(s): round(float(np.mean(routed_real[real & (rows.source == s)] == i)), 3)
                   for s in sorted(set(rows.source[real & member]))}
        others = {str(s): int(np.sum(routed_real[real & (rows.source == s)] == i))
                  for s in sorted(set(rows.source[real & ~member]))}
        fakes = {}
        for fam in kinds[0].fake_logit:
            m = np.isfinite(kinds[0].fake_logit[fam]) & condition_mask
            n = int(np.sum(route([k.fake_logit[fam] for k in kinds])[m] == i))
            if n:
                fakes[str(fam)] = f"{n}/{int(m.sum())}"
        n_other = int((real & ~member).sum())
        out[spec.name] = {"members": spec.members, "member_sources_routed": members,
                          "other_photos_routed": sum(others.values()), "other_photos": n_other,
                          "other_sources_routed": {s: n for s, n in others.items() if n},
                          "left_out_fakes_routed": fakes}
    return out


def save_kind_probe(probe: LinearProbe, folder: Path, name: str) -> str:
    """Write a kind probe beside the verdict probe; returns its file name."""
    file = f"kind_{name}.safetensors"
    probe.save(Path(folder) / file)
    os.chmod(Path(folder) / file, 0o666 & ~current_umask())  # safetensors writes 0600, like the verdict probe
    return file


@dataclass
class KindRouting:
    """What a recipe's `image_kinds` made: the offsets, the shifted fused cross-fit, the final kind probes and the
    routing table the card prints."""

    specs: list[KindSpec]
    offsets: list[float]
    general_threshold: float  # logit, photos routed to no kind
    kind_thresholds: list[Optional[float]]  # logit per kind (None: no held-out photo routed there)
    shifted: CrossFit
    probes: list[LinearProbe]
    seen_logits: list[np.ndarray]  # per kind, the logit of a kind probe that did not fit the row's image
    routing: dict[str, Any]

    def shift_seen(self, fused_seen: np.ndarray) -> np.ndarray:
        """Fused logits of models fitted without each row's image, with the kind offsets of the same folds."""
        return shift(fused_seen, route(self.seen_logits), self.offsets)

    def save(self, folder: Path) -> list[dict[str, Any]]:
        """Write the kind probes into the model folder; returns the model config's "kinds" entries."""
        out = []
        for spec, probe, offset, thr in zip(self.specs, self.probes, self.offsets, self.kind_thresholds):
            out.append({"name": spec.name, "members": list(spec.members), "probe": save_kind_probe(probe, folder, spec.name),
                        "l2": spec.l2, "offset": round(float(offset), 6),
                        "threshold_alone": None if thr is None else round(float(sigmoid(thr)), 6),
                        "general_threshold_alone": round(float(sigmoid(self.general_threshold)), 6)})
        return out


def fit_kind_routing(specs: Sequence[KindSpec], *, rows: Any, features: Callable[[np.ndarray], np.ndarray],
                     feature_spec: Any, family_of: dict[str, str], trained: np.ndarray, cross_fit_kwargs: dict[str, Any],
                     fused: CrossFit, clean_real: np.ndarray, target: float, cap: Optional[float],
                     seen_folds: int, log: Callable[[str], None] = print) -> KindRouting:
    """Cross-fit a kind probe per spec under the verdict probe's held-out design, calibrate each kind's offset on
    the held-out real photos routed to it, shift the fused cross-fit, and fit the shipped kind probes on the
    trained rows (`features(idx)`: feature vectors of row indices)."""
    from forensics.pretrained.recipe import restricted
    from forensics.pretrained.selection import cross_fit, seen_family_logits

    fits = [restricted(kind_fitter(spec, features, family_of, feature_spec), trained) for spec in specs]
    crossfits = [cross_fit(rows, fit, **cross_fit_kwargs) for fit in fits]
    real_dealings = fused.real_logit_dealings if fused.real_logit_dealings.size else fused.real_logit[None]

    def kind_dealings(k: CrossFit) -> np.ndarray:
        return k.real_logit_dealings if k.real_logit_dealings.size else k.real_logit[None]

    routed = [route([kind_dealings(k)[i] for k in crossfits])[clean_real] for i in range(len(real_dealings))]
    offsets, general, per_kind = kind_offsets([d[clean_real] for d in real_dealings], routed,
                                              rows.source[clean_real], len(specs), target, cap)
    for spec, off in zip(specs, offsets):
        log(f"kind {spec.name}: offset {off:+.3f} on the fused logit")
    shifted = shifted_crossfit(fused, crossfits, offsets)
    idx = rows.feats[trained, 0]
    probes = [fit_kind_probe(spec, features(idx), rows.source[trained], family_of, feature_spec) for spec in specs]
    seen = [seen_family_logits(rows, fit, n_folds=seen_folds) for fit in fits]
    table = routing_table(crossfits, specs, family_of, rows.condition == "clean")
    return KindRouting(list(specs), offsets, general, per_kind, shifted, probes, seen, table)


@dataclass(frozen=True)
class KindRule:
    """A shipped kind: its probe on the pretrained branch's features and the offset added to the fused logit of an
    image it recognises."""

    name: str
    probe: LinearProbe
    offset: float


def load_kind_rules(model_dir: Path, entries: Sequence[dict[str, Any]], feature_spec: Any) -> list[KindRule]:
    """A fused model's "kinds" (config.json) with their probes; ValueError naming the file on anything malformed."""
    rules = []
    for entry in entries or []:
        name = str(entry.get("name", ""))
        offset = entry.get("offset")
        if not name or not isinstance(offset, (int, float)) or not np.isfinite(offset):
            raise ValueError(f"{Path(model_dir) / 'config.json'}: a kind needs a name and a finite offset, got {entry}")
        path = Path(model_dir) / str(entry.get("probe", f"kind_{name}.safetensors"))
        if not path.is_file():
            raise ValueError(f"{path}: the probe of kind {name!r} is missing")
        rules.append(KindRule(name, LinearProbe.load(path, feature_spec), float(offset)))
    return rules


def routed_kind(rules: Sequence[KindRule], kind_logits: Sequence[float]) -> Optional[KindRule]:
    """The rule one image with these kind logits is routed to, by `route`'s rule."""
    if not rules:
        return None
    k = int(route([np.array([logit]) for logit in kind_logits])[0])
    return rules[k] if k >= 0 else None
