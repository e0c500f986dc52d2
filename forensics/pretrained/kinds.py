"""Kinds of picture with their own verdict threshold, and optionally their own probe: a kind probe recognises
them, an expert probe may judge them beside the general one, an offset calibrates them.

Some real captures score high on the fused score whatever the probe is trained on: false-colour thermal
images are the clearest case (reports/fused/selection.md, sections 37-39). With one threshold for every
picture, the least familiar real kind sets it for all. A kind is recognisable as such, so it can have its
own threshold: a linear probe on the pretrained branch's own features (no extra encoder pass) says whether an
image is of the kind, and an image recognised as it gets a logit `offset` added to its fused score, so that the
one verdict threshold means, for that kind, the threshold calibrated on held-out real photos of that kind.

A kind may also carry an expert: a verdict probe fitted on the kind's rows only (real and fake members, e.g. close-up
faces and face generators). The CLIP logit of an image routed to the kind moves toward the expert's logit by the kind's
`weight` before the combiner; the general probe ranks GAN faces among real close-up faces, an expert that only ever
compares faces with faces ranks them better (section 40).

Everything is cross-fitted like the verdict probe (`forensics.pretrained.selection.cross_fit`): a held-out real
source is routed by a kind probe that never saw it, a left-out fake family by one that never saw that family, so
the figures count the photos and fakes that routing gets wrong.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from forensics.fileio import current_umask
from forensics.pretrained.calibration import balanced_threshold
from forensics.pretrained.combiner import sigmoid
from forensics.pretrained.probe import LinearProbe, balanced_weights, fit_probe
from forensics.pretrained.selection import CrossFit, cross_fit, restricted, seen_family_logits


@dataclass(frozen=True)
class ExpertSpec:
    """A kind's own verdict probe: its L2 penalty and how far an image routed to the kind moves from the general
    probe's logit toward the expert's (0: not at all, 1: the expert alone)."""

    l2: float = 1e-3
    weight: float = 0.5


@dataclass(frozen=True)
class KindSpec:
    """A kind as a recipe declares it: its name, the families or sources that show it (real ones; with an expert,
    fake ones too), its kind probe's L2 penalty and its optional expert."""

    name: str
    members: tuple[str, ...]  # family or source names of the recipe's sources
    l2: float = 1e-2
    expert: Optional[ExpertSpec] = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "KindSpec":
        name = str(d.get("name", ""))
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"image_kinds: a kind needs a plain name (letters, digits, - or _), got {name!r}")
        members = tuple(str(m) for m in d.get("members", ()))
        if not members:
            raise ValueError(f"image_kinds: kind {name!r} names no members (families or sources)")
        expert = None
        if d.get("expert") is not None:
            e = d["expert"]
            if not isinstance(e, dict):
                raise ValueError(f"image_kinds: kind {name!r}: expert must be an object {{\"l2\", \"weight\"}}, got {e!r}")
            expert = ExpertSpec(float(e.get("l2", 1e-3)), float(e.get("weight", 0.5)))
            if not 0 < expert.weight <= 1 or not expert.l2 > 0:
                raise ValueError(f"image_kinds: kind {name!r}: expert weight must be in (0, 1] and l2 > 0, got {e}")
        return cls(name, members, float(d.get("l2", 1e-2)), expert)

    def of_sources(self, sources: np.ndarray, family_of: dict[str, str]) -> np.ndarray:
        """1 for rows whose source (or its family) is a member, else 0."""
        return np.array([s in self.members or family_of.get(str(s)) in self.members for s in sources], np.int64)


def kind_specs(cfg: dict[str, Any]) -> list[KindSpec]:
    """The recipe's `image_kinds` (a list of {"name", "members", "l2", "expert"}), in the order routing tries them."""
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


def expert_fitter(spec: KindSpec, features: Callable[[np.ndarray], np.ndarray], family_of: dict[str, str],
                  feature_spec: Any) -> Callable[..., Callable[[np.ndarray], np.ndarray]]:
    """A `cross_fit` fit function for a kind's expert: a verdict probe fitted on the member rows it is given only
    (their real/fake labels, each source weighted equally within its class); it scores every row. A fold whose
    members lack one class scores NaN, which `blend` reads as "no expert"."""
    def fit(idx: np.ndarray, labels: np.ndarray, src: np.ndarray):
        member = spec.of_sources(src, family_of).astype(bool)
        if not member.any() or labels[member].min() == labels[member].max():
            return lambda jdx: np.full(len(jdx), np.nan)
        probe = fit_expert_probe(spec, features(idx[member, 0]), labels[member], src[member], feature_spec)
        return lambda jdx: probe.logits(features(jdx[:, 0]))

    return fit


def fit_expert_probe(spec: KindSpec, feats: np.ndarray, labels: np.ndarray, sources: np.ndarray,
                     feature_spec: Any) -> LinearProbe:
    """A kind's expert fitted on its member rows `feats` (real/fake `labels`)."""
    if spec.expert is None:
        raise ValueError(f"image_kinds: kind {spec.name!r} has no expert")
    if labels.min() == labels.max():
        raise ValueError(f"image_kinds: the expert of kind {spec.name!r} needs real and fake members to fit on")
    return fit_probe(feats, labels, feature_spec, weights=balanced_weights(labels, sources), l2=spec.expert.l2)


def blend(general: np.ndarray, routed: np.ndarray, experts: Sequence[Optional[np.ndarray]],
          weights: Sequence[float]) -> np.ndarray:
    """The CLIP logit the combiner takes: the general probe's, moved by its kind's weight toward the kind's expert
    for every row routed to a kind that has one (`routed` as from `route`; a NaN expert logit moves nothing)."""
    out = np.array(general, float)
    for k, (expert, w) in enumerate(zip(experts, weights)):
        if expert is None or not w:
            continue
        m = (routed == k) & np.isfinite(expert)
        out[m] += w * (np.asarray(expert, float)[m] - out[m])
    return out


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
    there; a kind's offset moves its threshold onto the general one. An offset never raises a kind's scores: a kind
    whose photos score lower than the rest (close-up faces, paintings) keeps the general threshold, since a positive
    offset would raise the fakes drawn in its style with them (section 40). A kind no held-out photo was routed to
    gets offset 0."""
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
    return [0.0 if t is None else min(0.0, general - t) for t in per_kind], general, per_kind


def shifted_crossfit(fused: CrossFit, kinds: Sequence[CrossFit], offsets: Sequence[float]) -> CrossFit:
    """The fused cross-fit with every row's kind offset added, each row routed by the kind cross-fit of the same
    held-out design (a left-out family's fakes by kind probes fitted without it, held-out photos likewise)."""
    return fused.map(lambda logits, pick: shift(logits, route([pick(k) for k in kinds]), offsets))


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


def blended_crossfit(general: CrossFit, routers: Sequence[CrossFit], experts: Sequence[Optional[CrossFit]],
                     weights: Sequence[float]) -> CrossFit:
    """The general probe's cross-fit with every row routed to a kind that has an expert blended toward it (`blend`),
    routers and experts of the same held-out design (a left-out family's fakes by probes fitted without it, held-out
    photos likewise). Averaged rows blend the averages over dealings; the real rows of each dealing blend that
    dealing's own logits."""
    return general.map(lambda logits, pick: blend(logits, route([pick(r) for r in routers]),
                                                  [None if e is None else pick(e) for e in experts], weights))


@dataclass
class KindCrossFits:
    """The kind probes and experts of a recipe's `image_kinds`: cross-fitted under the verdict probe's held-out
    design, with their logits on new images of trained families and sources (`seen_family_logits`), and the shipped
    ones fitted on every trained row."""

    specs: list[KindSpec]
    family_of: dict[str, str]
    routers: list[CrossFit]
    experts: list[Optional[CrossFit]]
    router_seen: list[np.ndarray]
    expert_seen: list[Optional[np.ndarray]]
    probes: list[LinearProbe]
    expert_probes: list[Optional[LinearProbe]]

    @property
    def weights(self) -> list[float]:
        return [spec.expert.weight if spec.expert else 0.0 for spec in self.specs]

    def blended(self, general: CrossFit) -> CrossFit:
        """The CLIP cross-fit the combiner is fitted on: `general` with each kind's expert blended in."""
        return blended_crossfit(general, self.routers, self.experts, self.weights)

    def blend_seen(self, general_seen: np.ndarray) -> np.ndarray:
        """`blend` on the logits of models fitted without each row's image."""
        return blend(general_seen, route(self.router_seen), self.expert_seen, self.weights)


def cross_fit_kinds(specs: Sequence[KindSpec], *, rows: Any, features: Callable[[np.ndarray], np.ndarray],
                    feature_spec: Any, family_of: dict[str, str], trained: np.ndarray, cross_fit_kwargs: dict[str, Any],
                    seen_folds: int, log: Callable[[str], None] = print) -> KindCrossFits:
    """Fit a kind probe per spec, and the expert of each spec that has one, on the `trained` rows (the shipped ones,
    first, so a kind that cannot be fitted fails before the cross-fits), then cross-fit them like the verdict probe
    (`features(idx)`: feature vectors of row indices)."""
    idx = rows.feats[trained, 0]
    feats, sources, labels = features(idx), rows.source[trained], rows.label[trained]
    probes, expert_probes = [], []
    for spec in specs:
        probes.append(fit_kind_probe(spec, feats, sources, family_of, feature_spec))
        member = spec.of_sources(sources, family_of).astype(bool)
        expert_probes.append(None if spec.expert is None else
                             fit_expert_probe(spec, feats[member], labels[member], sources[member], feature_spec))
    routers, experts, router_seen, expert_seen = [], [], [], []
    for spec in specs:
        t0 = time.time()
        fit = restricted(kind_fitter(spec, features, family_of, feature_spec), trained)
        routers.append(cross_fit(rows, fit, **cross_fit_kwargs))
        router_seen.append(seen_family_logits(rows, fit, n_folds=seen_folds))
        if spec.expert is None:
            experts.append(None)
            expert_seen.append(None)
        else:
            fit = restricted(expert_fitter(spec, features, family_of, feature_spec), trained)
            experts.append(cross_fit(rows, fit, **cross_fit_kwargs))
            expert_seen.append(seen_family_logits(rows, fit, n_folds=seen_folds))
        log(f"kind {spec.name}: cross-fitted{' with its expert' if spec.expert else ''} in {time.time() - t0:.0f} s")
    return KindCrossFits(list(specs), dict(family_of), routers, experts, router_seen, expert_seen, probes,
                         expert_probes)


@dataclass
class KindRouting:
    """What a recipe's `image_kinds` made: the cross-fits and shipped probes, the offsets, the shifted fused
    cross-fit and the routing table the card prints."""

    crossfits: KindCrossFits
    offsets: list[float]
    general_threshold: float  # logit, photos routed to no kind
    kind_thresholds: list[Optional[float]]  # logit per kind (None: no held-out photo routed there)
    shifted: CrossFit
    routing: dict[str, Any]

    @property
    def specs(self) -> list[KindSpec]:
        return self.crossfits.specs

    @property
    def probes(self) -> list[LinearProbe]:
        return self.crossfits.probes

    @property
    def experts(self) -> list[Optional[LinearProbe]]:
        return self.crossfits.expert_probes

    def shift_seen(self, fused_seen: np.ndarray) -> np.ndarray:
        """Fused logits of models fitted without each row's image, with the kind offsets of the same folds."""
        return shift(fused_seen, route(self.crossfits.router_seen), self.offsets)

    def save(self, folder: Path) -> list[dict[str, Any]]:
        """Write the kind probes and experts into the model folder; returns the model config's "kinds" entries."""
        out = []
        for spec, probe, expert, offset, thr in zip(self.specs, self.probes, self.experts, self.offsets,
                                                    self.kind_thresholds):
            entry = {"name": spec.name, "members": list(spec.members), "probe": save_kind_probe(probe, folder, spec.name),
                     "l2": spec.l2}
            if expert is not None and spec.expert is not None:
                entry["expert"] = {"probe": save_kind_probe(expert, folder, f"{spec.name}_expert"),
                                   "l2": spec.expert.l2, "weight": spec.expert.weight}
            entry.update({"offset": round(float(offset), 6),
                          "threshold_alone": None if thr is None else round(float(sigmoid(thr)), 6),
                          "general_threshold_alone": round(float(sigmoid(self.general_threshold)), 6)})
            out.append(entry)
        return out


def fit_kind_routing(crossfits: KindCrossFits, *, fused: CrossFit, clean_real: np.ndarray, target: float,
                     cap: Optional[float], log: Callable[[str], None] = print) -> KindRouting:
    """Calibrate each kind's offset on the held-out real photos its cross-fitted probe routes to it (`fused`: the
    fused cross-fit, experts already blended in) and shift the fused cross-fit."""
    specs, rows = crossfits.specs, fused.rows
    real_dealings = fused.real_logit_dealings if fused.real_logit_dealings.size else fused.real_logit[None]

    def kind_dealings(k: CrossFit) -> np.ndarray:
        return k.real_logit_dealings if k.real_logit_dealings.size else k.real_logit[None]

    routed = [route([kind_dealings(k)[i] for k in crossfits.routers])[clean_real] for i in range(len(real_dealings))]
    offsets, general, per_kind = kind_offsets([d[clean_real] for d in real_dealings], routed,
                                              rows.source[clean_real], len(specs), target, cap)
    for spec, off in zip(specs, offsets):
        log(f"kind {spec.name}: offset {off:+.3f} on the fused logit")
    shifted = shifted_crossfit(fused, crossfits.routers, offsets)
    table = routing_table(crossfits.routers, specs, crossfits.family_of, rows.condition == "clean")
    return KindRouting(crossfits, offsets, general, per_kind, shifted, table)


@dataclass(frozen=True)
class KindRule:
    """A shipped kind: its probe on the pretrained branch's features, the offset added to the fused logit of an
    image it recognises, and optionally its expert and how far the CLIP logit moves toward it."""

    name: str
    probe: LinearProbe
    offset: float
    expert: Optional[LinearProbe] = None
    expert_weight: float = 0.0


def load_kind_rules(model_dir: Path, entries: Sequence[dict[str, Any]], feature_spec: Any) -> list[KindRule]:
    """A fused model's "kinds" (config.json) with their probes; ValueError naming the file on anything malformed."""
    rules = []
    for entry in entries or []:
        name = str(entry.get("name", ""))
        offset = entry.get("offset")
        if not name or not isinstance(offset, (int, float)) or not np.isfinite(offset):
            raise ValueError(f"{Path(model_dir) / 'config.json'}: a kind needs a name and a finite offset, got {entry}")
        probe = _kind_file(model_dir, entry.get("probe", f"kind_{name}.safetensors"), f"the probe of kind {name!r}")
        expert, weight = None, 0.0
        if entry.get("expert") is not None:
            e = entry["expert"]
            weight = e.get("weight") if isinstance(e, dict) else None
            if not isinstance(weight, (int, float)) or not 0 < weight <= 1:
                raise ValueError(f"{Path(model_dir) / 'config.json'}: the expert of kind {name!r} needs a weight in "
                                 f"(0, 1], got {e}")
            expert = LinearProbe.load(_kind_file(model_dir, e.get("probe", f"kind_{name}_expert.safetensors"),
                                                 f"the expert of kind {name!r}"), feature_spec)
        rules.append(KindRule(name, LinearProbe.load(probe, feature_spec), float(offset), expert, float(weight)))
    return rules


def _kind_file(model_dir: Path, name: Any, what: str) -> Path:
    path = Path(model_dir) / str(name)
    if not path.is_file():
        raise ValueError(f"{path}: {what} is missing")
    return path


def judge_by_kind(rules: Sequence[KindRule], general: np.ndarray, kind_logits: Sequence[np.ndarray],
                  expert_logits: Sequence[Optional[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(CLIP logit the combiner takes, kind index per row, -1 for none) of rows with the general probe's logits
    `general` and, per shipped kind, its probe's and its expert's logits (None or NaN without an expert): the rule
    the scan applies, image by image, and the screening scripts on stored features."""
    routed = route(kind_logits) if rules else np.full(np.shape(general), -1, np.int64)
    return blend(general, routed, expert_logits, [r.expert_weight for r in rules]), routed
