"""Regenerate every number in reports/default_model.md (the default detector's model card), or in
reports/fast_model.md (a separately shipped `--model fast` detector's card) with `--as fast`.

    python benchmarks/default_model_card.py --run runs/default_v25_average --per-source 80 --publish \
        --compare reports/fast_model.json --compare-model forensics/weights/fast

Scores held-back validation files of every training source at native resolution, sets the
threshold so that the false-positive rate is <= 1% on the real validation images of EVERY source,
measures AP per fake set (clean and after JPEG 75 + 0.5x resize of both classes), the format and
downscale controls, inference cost against a full ResNet-50, and (with --publish) copies the model
with its calibrated threshold into forensics/weights/patch.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Callable, Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ROLES = ("default", "fast")
# the colour control's filters: (name, saturation factor), as phone cameras and photo apps apply them
COLOUR_FILTERS = (("vivid", 1.5), ("muted", 0.5))
# the group of benchmarks/outside_reals.py that holds rendered graphics, scored apart from its photographs
GRAPHICS_GROUP = "rendered graphics (not photographs)"
LFW_GROUP = "LFW face thumbnails (25 px, grayscale)"
ROLE_TEXT = {"default": "the embedded default detector",
             "fast": "shipped as `--model fast`: the speed-first detector"}


def other_text(card: dict, other: dict) -> str:
    """How a card names the model it is compared with: its role, or 'previous' for an earlier model
    of the same role (e.g. the default this one replaced)."""
    role = role_of(other)
    if role == card.get("role", "default") and other.get("model") != card.get("model"):
        return f"the previous {role} detector"
    return ROLE_TEXT[role]


def role_of(card: dict) -> str:
    """A card's role; cards written before roles existed are named after their file."""
    return card.get("role") or ("default" if Path(card.get("card", "")).stem == "default_model" else "fast")


def all_val_files(cfg: dict, split: str = "val") -> dict[str, tuple[int, list[Path]]]:
    """{source name: (label, every held-back validation file)} of the run's training sources (with
    `split="train"`, every training file instead)."""
    from forensics.data import FAKE, REAL, make_sources

    t = cfg["training"]
    out = {}
    for dirs, label in ((t["real"], REAL), (t["fake"], FAKE)):
        for s in make_sources([REPO / d for d in dirs], label, split=split, val_fraction=t["val_fraction"]):
            out[s.name] = (label, list(s.files))
    return out


def val_files(cfg: dict, per_source: int, split: str = "val") -> dict[str, tuple[int, list[Path]]]:
    """The card's evenly spaced subsample of at most `per_source` validation files per source (of the
    training files with `split="train"`)."""
    out = {}
    for name, (label, files) in all_val_files(cfg, split).items():
        step = max(1, len(files) // per_source)
        out[name] = (label, files[::step][:per_source])
    return out


def unused_real_fpr(det, cfg: dict, sets: dict, threshold: float, near_from: Optional[float] = None,
                    chunk: int = 64) -> dict:
    """False positives at the shipped `threshold` on the real validation photos the card's subsample left
    out: photos that played no part in setting the threshold or choosing the weights' average; with
    `near_from`, also how many `forensics scan` would mark near threshold (in [near_from, threshold))."""
    from forensics.decoding import load_image
    from forensics.metrics import rate_upper_bound

    out = {}
    for name, (label, files) in all_val_files(cfg).items():
        used = set(sets[name][1])
        rest = [f for f in files if label == 0 and f not in used]
        if not rest:
            continue
        scores = np.concatenate([score_arrays(det, [load_image(f).rgb for f in rest[i:i + chunk]])
                                 for i in range(0, len(rest), chunk)])
        k = int((scores >= threshold).sum())
        out[name] = {"n": len(rest), "false_positives": k, "fpr": k / len(rest),
                     "fpr_upper95": rate_upper_bound(k, len(rest)), "max_score": float(scores.max())}
        if near_from is not None:
            out[name]["near_threshold"] = int(((scores >= near_from) & (scores < threshold)).sum())
    return out


def score_arrays(det, arrays) -> np.ndarray:
    return np.array([r.score for r in det.scan_many(arrays, batch_size=4, provenance=False)], dtype=float)


# Image-score rules every model is also scored with, to show what the choice of rule does.
CANDIDATE_RULES = ("mean_prob", "mean_logit", "topk:0.5", "topk:0.25")


def model_maps(det, pix: dict, degraded: dict) -> dict:
    """Each image's cell fake-logit map, per image set: clean (`pix`), after JPEG 75 + 0.5x, and the
    downscale control, so that any image-score rule can be applied without running the model again."""
    def maps(arrays) -> list:
        return [det.cell_map(a).fake_logit for a in arrays]
    return {"clean": {n: maps(arrs) for n, (_, arrs) in pix.items()},
            "jpeg75_resize0.5": {n: maps(arrs) for n, arrs in degraded["jpeg75_resize0.5"].items()},
            "control_downscale": {k: maps(arrs) for k, arrs in degraded["control_downscale"].items()},
            "control_colour": {k: maps(arrs) for k, arrs in degraded["control_colour"].items()}}


def scores_of(maps: dict, rule) -> dict:
    """{set name: image scores} under one image-score rule, as scans report them (and decide on them)."""
    from forensics.aggregate import SCORE_DECIMALS

    return {n: np.round(np.array([rule(m) for m in ms], dtype=float), SCORE_DECIMALS) for n, ms in maps.items()}


def rule_comparison(maps: dict, reals: list, fakes: list, target_fpr: float, shipped=None) -> dict:
    """Mean AP (clean and re-encoded) and threshold of one model under each candidate image-score rule
    (the `shipped` rule, rescaling included, in place of the candidate of its name)."""
    from forensics.aggregate import ScoreRule
    from forensics.calibrate import threshold_for_fpr
    from forensics.metrics import mean_ap

    out = {}
    for name in CANDIDATE_RULES:
        rule = shipped if shipped is not None and shipped.name == name else ScoreRule.parse(name)
        clean, deg = scores_of(maps["clean"], rule), scores_of(maps["jpeg75_resize0.5"], rule)
        out[name] = {"threshold": max(threshold_for_fpr(clean[n], target_fpr) for n in reals),
                     "clean": mean_ap(clean, reals, fakes), "jpeg75_resize0.5": mean_ap(deg, reals, fakes)}
    return out


COMPARED_CONDITIONS = ("clean", "jpeg75_resize0.5")


def condition_scores(maps: dict, rule) -> dict:
    """{condition: image scores} of one model under the conditions models are compared on."""
    return {c: scores_of(maps[c], rule) for c in COMPARED_CONDITIONS}


def versus(base_scores: dict, other_scores: dict, reals: list, fakes: list) -> dict:
    """Mean-AP difference of another model over a base one (each {condition: scores}, `condition_scores`),
    clean and after JPEG 75 + 0.5x, each with its 95% paired bootstrap interval on the same files
    (`forensics.metrics.paired_bootstrap_mean_ap`): whether the validation sample can tell the two apart at all."""
    from forensics.metrics import paired_bootstrap_mean_ap

    return {c: paired_bootstrap_mean_ap(base_scores[c], other_scores[c], reals, fakes) for c in COMPARED_CONDITIONS}


def ap_without_top_real(clean: dict, reals: list, ap_by_real: dict) -> dict[str, float]:
    """How much one photo matters: each fake set's pooled AP with one photo left out, the highest-scoring
    photo of the real source it has its lowest AP against (`ap_by_real`: {fake: {real: AP}})."""
    out = {}
    for f, row in ap_by_real.items():
        worst = min(row, key=row.get)
        out[f] = _ap({**clean, worst: np.delete(clean[worst], np.argmax(clean[worst]))}, reals, f)
    return out


def interval_text(v: dict) -> str:
    """'+0.00003 [-0.00019, +0.00031]': a `paired_bootstrap_mean_ap` result in one phrase."""
    return f"{v['difference']:+.5f} [{v['low']:+.5f}, {v['high']:+.5f}]"


def _ap(scores: dict, reals: list, fake: str) -> float:
    from forensics.metrics import mean_ap

    return mean_ap(scores, reals, [fake])


def throughputs(models: dict, size: int, batch: int, rounds: int = 5, seconds: float = 1.5) -> dict[str, float]:
    """Images/s of each model on a `size` px batch: PyTorch fp32, channels_last, BatchNorm folded (the
    shipped scan path), timed in interleaved rounds with each model's best round kept, so that the
    ratios compare the models under the same machine load."""
    import torch

    from forensics.fusion import fold_batchnorm
    from performance import interleaved_best  # benchmarks/performance.py

    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)

    def step_of(model):
        net = fold_batchnorm(model).to(memory_format=torch.channels_last)

        def step() -> int:
            with torch.inference_mode():
                net(x)
            return batch
        return step
    res = interleaved_best({k: step_of(m) for k, m in models.items()}, rounds, seconds)
    return {k: v["best"] for k, v in res.items()}


def card_inputs(cfg: dict, per_source: int, prepare: Optional[Callable[[np.ndarray], np.ndarray]] = None
                ) -> tuple[dict, dict, list, list, dict]:
    """What every model on a card is scored on: the validation subsample (`val_files`), its decoded
    pixels per set, the real and fake set names, and the re-encoded, downscaled and colour-filtered copies.
    `prepare` (pixels -> pixels), if given, is applied to every decoded image first (diagnostics only)."""
    from forensics.decoding import load_image

    sets = val_files(cfg, per_source)
    prepare = prepare or (lambda rgb: rgb)
    pix = {name: (label, [prepare(load_image(f).rgb) for f in files]) for name, (label, files) in sets.items()}
    reals = [n for n, (lab, _) in pix.items() if lab == 0]
    fakes = [n for n, (lab, _) in pix.items() if lab == 1]
    return sets, pix, reals, fakes, degraded_inputs(pix)


def degraded_inputs(pix: dict) -> dict:
    """The re-encoded pixels every model is scored on, made once: each set after JPEG 75 + 0.5x resize,
    real photos downscaled 2x / 4x and re-saved as JPEG q90 (the downscale control), and real photos
    through a vivid (saturation x1.5) or muted (x0.5) colour filter, re-saved as JPEG q90 (the colour control)."""
    from forensics.data import scale_saturation
    from forensics.perturb import parse_perturbation
    from forensics.stability import jpeg, resize

    degrade = parse_perturbation("jpeg:75+resize:0.5")
    return {"jpeg75_resize0.5": {n: [degrade(a) for a in arrs] for n, (_, arrs) in pix.items()},
            "control_downscale": {f"{n} /{f}": [jpeg(resize(a, 1 / f), 90) for a in arrs if min(a.shape[:2]) // f >= 16]
                                  for n, (lab, arrs) in pix.items() if lab == 0 for f in (2, 4)},
            "control_colour": {f"{n} {name} x{f:g}": [jpeg(scale_saturation(a, f), 90) for a in arrs]
                               for n, (lab, arrs) in pix.items() if lab == 0 for name, f in COLOUR_FILTERS}}


def control_entry(scores: np.ndarray, threshold: float) -> dict:
    """One real-photo control set: its size and FPR at `threshold` (None for an empty set)."""
    return {"n": int(scores.size), "fpr": float((scores >= threshold).mean()) if scores.size else None}


# Control 4's enlargement factors: photos enlarged by a site, an editor or an upscaler (bicubic)
ENLARGE_FACTORS = (1.5, 2.0)


def enlarged_control(det, pix: dict, threshold: float) -> dict:
    """Control 4 (the shipped model only; reported, not an issue target): FPR at `threshold` of each real
    source's validation photos enlarged by each of ENLARGE_FACTORS (bicubic) and re-saved as JPEG q90, since
    enlarging adds interpolation traces akin to a generator's upsampling."""
    from forensics.stability import jpeg, resize

    out = {}
    for n, (lab, arrs) in pix.items():
        if lab != 0:
            continue
        for f in ENLARGE_FACTORS:
            out[f"{n} x{f:g}"] = control_entry(score_arrays(det, [jpeg(resize(a, f), 90) for a in arrs]), threshold)
    return out


def _control_table(control: dict) -> list[str]:
    """Markdown rows of one real-photo control: each set's size and FPR at the shipped threshold."""
    return ["| set | n | FPR at shipped threshold |", "|---|---|---|",
            *(f"| {n} | {v['n']} | {'-' if v['fpr'] is None else format(v['fpr'], '.3f')} |" for n, v in control.items())]


def _enlarged_caveat(card: dict) -> list[str]:
    """A 'cannot do' line naming the enlarged real sets of Control 4 flagged above the target FPR, if any."""
    over = {n: v["fpr"] for n, v in (card.get("control_enlarged") or {}).items()
            if (v["fpr"] or 0.0) > card["target_fpr"]}
    if not over:
        return []
    named = ", ".join(f"{n} ({f:.0%})" for n, f in over.items())
    return [f"- Enlarged photos can be called fake: of the real validation photos enlarged and re-saved as JPEG "
            f"(Control 4), more than {card['target_fpr']:.0%} are flagged in {named}. Interpolation traces look like "
            "a generator's upsampling; a photo known to be enlarged (a small original blown up) is weak evidence "
            "either way."]


# threshold profiles published with a model (`forensics scan --profile NAME`): each is the strictest
# 1%-false-positive threshold of the real sources of one kind
THRESHOLD_PROFILES = {
    "portraits": {"what": "photos of faces: CelebA, including the CelebA faces upscaled from 32 and 64 px, and faces-hq",
                  "sources": ("real:train", "real:faces-hq", "real:real_celeba32to128", "real:real_celeba64to128")},
}


def flagged_share(real_scores: np.ndarray, threshold: float) -> dict:
    """How many of these real photos a threshold flags: n, the false-positive rate and its 95% upper bound."""
    from forensics.metrics import rate_upper_bound

    k = int((real_scores >= threshold).sum())
    return {"n": int(real_scores.size), "fpr": k / real_scores.size, "fpr_upper95": rate_upper_bound(k, real_scores.size)}


def profile_figures(clean: dict, per_source_t: dict, reals: list, fakes: list) -> dict:
    """For each of `THRESHOLD_PROFILES` whose sources are all among `reals`: its threshold (the highest
    of its sources' own), the share of each fake set it flags, each real source's false-positive rate
    at it (sources of other kinds included, which is why it is a profile), and each of its sources at
    the threshold its other sources set (the threshold held out)."""
    out = {}
    for name, prof in THRESHOLD_PROFILES.items():
        own = [n for n in prof["sources"] if n in reals]
        if len(own) != len(prof["sources"]):
            continue
        t = max(per_source_t[n] for n in own)
        out[name] = {"what": prof["what"], "sources": own, "threshold": t,
                     "tpr": {f: float((clean[f] >= t).mean()) for f in fakes},
                     "fpr": {n: flagged_share(clean[n], t) for n in reals},
                     "held_out": {}}
        for n in own:
            others = [per_source_t[r] for r in own if r != n]
            if others:
                out[name]["held_out"][n] = {"threshold": max(others), **flagged_share(clean[n], max(others))}
    return out


def accuracy_figures(maps: dict, reals: list, fakes: list, rule, target_fpr: float) -> dict:
    """Threshold (max of per-real-source thresholds for `target_fpr`), FPR per real source, AP per fake
    source clean and after JPEG 75 + 0.5x of both classes, TPR at the threshold, and the downscale
    control, from one model's `model_maps` under the image-score `rule`."""
    from forensics.calibrate import runner_up_threshold, threshold_for_fpr
    from forensics.metrics import binary_metrics

    clean = scores_of(maps["clean"], rule)
    per_source_t = {n: threshold_for_fpr(clean[n], target_fpr) for n in reals}
    threshold = max(per_source_t.values())
    real_all = np.concatenate([clean[n] for n in reals])
    out: dict = {"threshold": threshold, "per_source_threshold": per_source_t, "fpr": {}, "ap": {},
                 "tpr_at_threshold": {}}
    for n in reals:
        out["fpr"][n] = {**flagged_share(clean[n], threshold), "fpr_at_0.5": float((clean[n] >= 0.5).mean())}
    for n in fakes:
        m = binary_metrics(np.r_[np.zeros(real_all.size), np.ones(clean[n].size)], np.r_[real_all, clean[n]], threshold)
        out["ap"][n] = {"clean": m["ap"], "n": int(clean[n].size)}
        out["tpr_at_threshold"][n] = m["tpr"]
    # the threshold the other real sources would set, on each held-out source: what a threshold calibrated
    # on other photos does to a population (the model itself was still trained on every source)
    out["held_out_threshold"] = {}
    for n in reals:
        others = [per_source_t[r] for r in reals if r != n]
        if others:
            out["held_out_threshold"][n] = {"threshold": max(others), **flagged_share(clean[n], max(others))}
    out["profiles"] = profile_figures(clean, per_source_t, reals, fakes)
    # scores `forensics scan` marks "near threshold": under the threshold, at or over every other source's
    runner_up = runner_up_threshold({"per_source_threshold": per_source_t}, threshold)
    if runner_up:
        out["near_threshold"] = {"from": runner_up[0], "set_by": runner_up[1], "share": {
            n: float(((clean[n] >= runner_up[0]) & (clean[n] < threshold)).mean()) for n in [*reals, *fakes]}}
    # detections at each real source's own threshold: what the binding source costs
    out["tpr_at_source_threshold"] = {f: {r: float((clean[f] >= per_source_t[r]).mean()) for r in reals} for f in fakes}
    # the same AP against one real source at a time: which real photos hold a fake set's AP down
    out["ap_by_real"] = {f: {r: binary_metrics(np.r_[np.zeros(clean[r].size), np.ones(clean[f].size)],
                                               np.r_[clean[r], clean[f]])["ap"] for r in reals} for f in fakes}
    out["ap_without_top_real"] = ap_without_top_real(clean, reals, out["ap_by_real"])
    deg = scores_of(maps["jpeg75_resize0.5"], rule)
    for n in fakes:
        out["ap"][n]["jpeg75_resize0.5"] = _ap(deg, reals, n)
    # where re-encoding costs AP: the same per-real-source AP after JPEG 75 + 0.5x, and which class's
    # scores move (median image score of every set, clean and re-encoded)
    out["ap_by_real_jpeg75_resize0.5"] = {f: {r: _ap(deg, [r], f) for r in reals} for f in fakes}
    out["median_score"] = {n: {"clean": float(np.median(clean[n])), "jpeg75_resize0.5": float(np.median(deg[n]))}
                           for n in [*reals, *fakes]}
    # Control 2: real validation photos downscaled 2x / 4x and re-saved as JPEG q90 must not be called fake.
    out["control_downscale"] = {key: control_entry(sc, threshold)
                                for key, sc in scores_of(maps["control_downscale"], rule).items()}
    # Control 3: real validation photos through a vivid or muted colour filter (reported, not a target)
    if "control_colour" in maps:
        out["control_colour"] = {key: control_entry(sc, threshold)
                                 for key, sc in scores_of(maps["control_colour"], rule).items()}
    out["score_rule"] = {"name": rule.name, "text": rule.describe()}
    out["by_rule"] = rule_comparison(maps, reals, fakes, target_fpr, rule)
    return out


def _balanced_weights(scores: dict, reals: list, fakes: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, scores and weights over all sets: half the weight on each class, each source equal within it."""
    y, s, w = [], [], []
    for label, names in ((0, reals), (1, fakes)):
        for n in names:
            y.append(np.full(scores[n].size, label))
            s.append(scores[n])
            w.append(np.full(scores[n].size, 0.5 / len(names) / max(1, scores[n].size)))
    return np.concatenate(y), np.concatenate(s), np.concatenate(w)


def fit_scaling(maps: dict, reals: list, fakes: list, rule):
    """`rule` with a Platt rescaling fitted on every validation file, clean and after JPEG 75 + 0.5x, half
    the weight on each class and each source equal within its class."""
    from forensics.calibrate import fit_platt

    raw = rule.with_scaling()
    parts = [_balanced_weights(scores_of(maps[c], raw), reals, fakes) for c in ("clean", "jpeg75_resize0.5")]
    y, s, w = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return raw.with_scaling(*fit_platt(s, y, w))


def calibration_figures(maps: dict, reals: list, fakes: list, rule) -> dict:
    """How well the image score reads as P(fake) when half the images are fake (each source equal within
    its class): ECE, log loss and Brier score clean and after JPEG 75 + 0.5x and the clean reliability
    table of the shipped score and of the aggregated score before any rescaling, and the same for Platt
    rescalings cross-fitted on alternate files (fit on one half, scored on the other, both ways), fitted
    on clean files or on clean and re-encoded files together."""
    from forensics.aggregate import rescale
    from forensics.calibrate import fit_platt
    from forensics.metrics import calibration_error

    conds = ("clean", "jpeg75_resize0.5")
    raw = rule.with_scaling()
    out: dict = {"scaling": {"slope": rule.slope, "intercept": rule.intercept} if rule.is_rescaled else None}
    scores = {c: scores_of(maps[c], raw) for c in conds}  # the Platt rows below rescale these
    shipped = {c: scores_of(maps[c], rule) for c in conds} if rule.is_rescaled else scores
    for key, by_cond in (("shipped", shipped), ("unscaled", scores)):
        out[key] = {c: calibration_error(*_balanced_weights(by_cond[c], reals, fakes)) for c in conds}
        out[f"{key}_bins"] = out[key]["clean"].pop("bins")
        out[key]["jpeg75_resize0.5"].pop("bins")

    def half(c: str, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _balanced_weights({n: v[h::2] for n, v in scores[c].items()}, reals, fakes)

    for fit_on in (("clean",), conds):
        key = "platt_" + "_".join(fit_on)
        out[key] = {c: {"ece": 0.0, "log_loss": 0.0, "brier": 0.0} for c in conds}
        for h in (0, 1):
            parts = [half(c, h) for c in fit_on]
            y, s, w = (np.concatenate([p[i] for p in parts]) for i in range(3))
            a, b = fit_platt(s, y, w)
            for c in conds:
                y, s, w = half(c, 1 - h)
                m = calibration_error(y, np.array([rescale(v, a, b) for v in s]), w)
                for k in ("ece", "log_loss", "brier"):
                    out[key][c][k] += m[k] / 2
    return out


def small_image_figures(det, real_arrays: list, threshold: float, n: int = 24) -> dict:
    """What a verdict on a thumbnail is worth: each bundled generator's native samples (32 px; gmm
    64 px; seed 0) against real validation photos centre-cropped and downscaled to the same size."""
    import generators
    from forensics.matched import center_square
    from forensics.metrics import binary_metrics

    out = {}
    for name in generators.list_generators():
        fakes = list(generators.create_generator(name, pretrained=True).sample(n, seed=0))
        side = int(fakes[0].shape[0])
        s_real = score_arrays(det, [center_square(a, side) for a in real_arrays])
        s_fake = score_arrays(det, fakes)
        m = binary_metrics(np.r_[np.zeros(s_real.size), np.ones(s_fake.size)], np.r_[s_real, s_fake], threshold)
        out[name] = {"side": side, "n_real": int(s_real.size), "n_fake": int(s_fake.size), "ap": m["ap"],
                     "fpr": float((s_real >= threshold).mean()), "tpr": m["tpr"]}
    return out


# what a card keeps of the card it compares with: without these, each card nested the other's
# comparison, and every publish made both files larger (3 MB by v25)
COMPARED_CARD_DROPS = ("compare", "trials")


def compared_card(path: Path) -> dict:
    """The compared card's figures, as this card stores them: its path, and its JSON without its own
    comparison or trial figures (`COMPARED_CARD_DROPS`)."""
    other = json.loads(path.read_text())
    return {"card": path.as_posix(), **{k: v for k, v in other.items() if k not in COMPARED_CARD_DROPS}}


def worst_colour_fpr(card: dict) -> Optional[float]:
    """The highest false-positive rate over the colour-control sets (None for a card without them)."""
    ctl = card.get("control_colour")
    return max((v["fpr"] for v in ctl.values()), default=0.0) if ctl is not None else None


def worst_real_fpr(card: dict) -> float:
    """The highest false-positive rate over the real validation sources, at the model's own threshold."""
    return max(v["fpr"] for v in card["fpr"].values())


def worst_control_fpr(card: dict) -> float:
    """The highest false-positive rate over the downscale-control sets."""
    return max((v["fpr"] for v in card["control_downscale"].values() if v["fpr"] is not None), default=0.0)


def trial_label(model_id: str, where: str, taken: list[str]) -> str:
    """A trial's row name: its model id, with `where` (its run folder or config) added when another row has
    that id (a stage and the average made from it can share one)."""
    return f"{model_id} ({where})" if model_id in taken else model_id


def _committed_name(path: Path) -> str:
    """`path` relative to the repository, with the commit that last changed it when it is committed unchanged
    (a card JSON that this run is about to overwrite is still findable there)."""
    import subprocess

    name = _rel(path.resolve())
    try:
        changed = subprocess.run(["git", "status", "--porcelain", "--", name], cwd=REPO, capture_output=True, text=True, check=True).stdout
        commit = subprocess.run(["git", "log", "-1", "--format=%h", "--", name], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return name
    return f"{name} at commit {commit}" if commit and not changed else name


def _figures_by_config(card: dict) -> dict[str, dict]:
    """AP figures of every model a card scored, keyed by the config file that makes it."""
    out = {t["config"]: t["ap"] for t in (card.get("trials") or {}).values() if t.get("config") and not t.get("carried_from")}
    if card.get("recipe") and card["recipe"][-1].get("config"):
        out[card["recipe"][-1]["config"]] = card["ap"]
    return out


def carried_trials(earlier: dict, card: dict, source: str) -> tuple[dict, str]:
    """Trials of an earlier card that this card did not score again (their weights are not at hand).
    They are carried only if the two cards scored the same files the same way: every model scored by
    both (matched by config file) must have identical AP figures, and at least one must exist.
    A trial's interval against the shipped model is carried only while the shipped model is the same.
    Returns (trials, reason none were carried or '')."""
    mine, theirs = _figures_by_config(card), _figures_by_config(earlier)
    common = sorted(set(mine) & set(theirs))
    if not common:
        return {}, "no model scored by both cards, so the files cannot be checked to be the same"
    for config in common:
        a, b = mine[config], theirs[config]
        if set(a) != set(b) or any(abs(a[n][k] - b[n][k]) > 1e-9 for n in a for k in ("clean", "jpeg75_resize0.5")):
            return {}, f"{config} has different figures on the two cards (other files or protocol)"
    carried = {}
    for name, trial in (earlier.get("trials") or {}).items():
        if trial.get("config") in mine:
            continue
        label = trial_label(name, Path(trial["config"]).stem, taken=[card["model"], *card["trials"], *carried])
        kept = {k: v for k, v in trial.items() if k != "vs_shipped" or earlier.get("model") == card.get("model")}
        carried[label] = {**kept, "carried_from": trial.get("carried_from") or source}
    return carried, ""


def _rel(run: Path) -> str:
    return run.relative_to(REPO).as_posix() if run.resolve().is_relative_to(REPO) else str(run)


def recipe_chain(run: Path) -> list[dict]:
    """The training stages behind a run, oldest first, each after the stages it needs: a training stage
    after the one it warm-starts from (training.init_from), a weight average after every model it
    averages; each with the config file in configs/ (or research/configs/, for trials) that reproduces it."""
    configs = {}
    for c in sorted([*(REPO / "configs").glob("**/*.json"), *(REPO / "research" / "configs").glob("**/*.json")]):
        out = json.loads(c.read_text()).get("out")
        if out:
            configs[(REPO / out).resolve()] = c.relative_to(REPO).as_posix()
    stages, seen = [], set()

    def visit(run: Path) -> None:
        if run.resolve() in seen or not (run / "config.json").is_file():
            return
        seen.add(run.resolve())
        cfg = json.loads((run / "config.json").read_text())
        parts = cfg.get("averaged_from")
        if parts:  # a weight average of earlier stages
            for part in parts:
                visit(REPO / part["model"])
            stages.append({"run": _rel(run), "config": configs.get(run.resolve()), "command": "average",
                           "arch": cfg.get("arch"), "averaged_from": parts})
            return
        fit = cfg.get("head_fit")
        if fit:  # a head refit on whole images of the stage it starts from
            visit(REPO / fit["init_from"])
            stages.append({"run": _rel(run), "config": configs.get(run.resolve()), "command": "fit-head",
                           "arch": cfg.get("arch"), "head_fit": head_fit_fields(fit)})
            return
        tr = cfg.get("training", {})
        if tr.get("init_from"):
            visit(REPO / tr["init_from"])  # an absolute init_from stays absolute
        hist = json.loads((run / "metrics.json").read_text())["history"] if (run / "metrics.json").is_file() else []
        stages.append({"run": _rel(run),
                       "config": configs.get(run.resolve()), "arch": cfg.get("arch"), "augment": tr.get("augment"),
                       "selection": tr.get("selection", "pooled_ap"), "epochs_run": len(hist),
                       "lr": f"{tr.get('lr')} {tr.get('lr_schedule', 'constant')}",
                       "steps_per_epoch": tr.get("steps_per_epoch"), "best_epoch": cfg.get("best_epoch"),
                       "small_fraction": tr.get("small_fraction", 0.0),
                       "reencode_fraction": tr.get("reencode_fraction", 0.0),
                       "saturation_fraction": tr.get("saturation_fraction", 0.0),
                       "grey_fraction": tr.get("grey_fraction", 0.0),
                       "jpeg_fraction": tr.get("jpeg_fraction", 0.0),
                       "chroma_match_fraction": tr.get("chroma_match_fraction", 0.0),
                       "image_loss_weight": tr.get("image_loss_weight", 0.0),
                       **distillation_fields(tr), **hard_mining_fields(tr)})

    visit(run)
    return stages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", type=Path, default=REPO / "runs" / "default")
    ap.add_argument("--per-source", type=int, default=80, help="validation files scored per source (the cards use 80)")
    ap.add_argument("--target-fpr", type=float, default=0.01)
    ap.add_argument("--as", dest="role", choices=ROLES, default="default",
                    help="which shipped model this card is for: reports/<role>_model.md, forensics/weights/<role>")
    ap.add_argument("--publish", action="store_true", help="copy the calibrated model to forensics/weights/<role>")
    ap.add_argument("--out", type=Path, default=REPO / "reports")
    ap.add_argument("--compare", type=Path, default=None,
                    help="card JSON of another model scored the same way (e.g. research/cards/default_v4_model.json): "
                         "adds a side-by-side table")
    ap.add_argument("--trial", type=Path, action="append", default=[],
                    help="a run tried as a later stage and not kept (e.g. runs/default_v5): scored on the same files")
    ap.add_argument("--earlier-card", type=Path, default=None,
                    help="an earlier card JSON scored on the same files (e.g. research/cards/default_v21_model.json): "
                         "its trials whose weights are not at hand are carried over, marked, once a model scored "
                         "in both is found to have identical figures")
    ap.add_argument("--compare-model", type=Path, default=None,
                    help="that model's directory, timed in the same run (e.g. forensics/weights/fast)")
    ap.add_argument("--aggregation", default=None,
                    help="image-score rule for this model and every trial (mean_prob, mean_logit, vote, topk:FRACTION); "
                         "default: the run's own. --publish stores it in the shipped config")
    ap.add_argument("--fit-scaling", action="store_true",
                    help="fit a Platt rescaling of the image score on the validation files (clean and re-encoded) "
                         "and publish the model with it")
    ap.add_argument("--model-id", default=None,
                    help="name the published model (e.g. when only its image-score rule changed); default: the run's")
    args = ap.parse_args()

    from forensics import Detector
    from forensics.aggregate import ScoreRule
    from forensics.models import build_model
    from forensics.stability import jpeg, resize

    det = Detector.load(args.run, device="cpu")
    rule = ScoreRule.parse(args.aggregation) if args.aggregation else det.score_rule
    det.score_rule = rule
    det.model_id = args.model_id or det.model_id
    cfg = det.config
    sets, pix, reals, fakes, degraded = card_inputs(cfg, args.per_source)
    maps = model_maps(det, pix, degraded)
    if args.fit_scaling:
        rule = det.score_rule = fit_scaling(maps, reals, fakes, rule)
    clean = scores_of(maps["clean"], rule)
    fig = accuracy_figures(maps, reals, fakes, rule, args.target_fpr)
    threshold, per_source_t = fig["threshold"], fig["per_source_threshold"]
    calibration = calibration_figures(maps, reals, fakes, rule)
    highest_real = {n: {"file": sets[n][1][int(np.argmax(clean[n]))].name, "score": float(clean[n].max())} for n in reals}
    card: dict = {"model": det.model_id, "role": args.role, "arch": cfg["arch"], "input_filter": cfg.get("input_filter"),
                  "head_hidden": cfg.get("head_hidden") or 0,
                  "target_fpr": args.target_fpr, "best_epoch": cfg.get("best_epoch"), **fig,
                  "highest_real": highest_real, "calibration": calibration,
                  "training": {k: cfg["training"].get(k) for k in ("sources", "val_sources", "size", "augment",
                                                                   "epochs", "steps_per_epoch", "batch_size", "lr")},
                  "recipe": recipe_chain(args.run.resolve()),
                  "history": [{k: h[k] for k in ("epoch", "val_ap", "seconds")}
                              for h in json.loads((args.run / "metrics.json").read_text())["history"]]
                  if (args.run / "metrics.json").is_file() else []}
    # a rule given on the command line (not stored by the recipe's last stage) is part of the recipe
    card["aggregation_option"] = bool(args.aggregation) and ScoreRule.from_config(cfg).with_scaling() != rule.with_scaling()
    card["fit_scaling_option"] = bool(args.fit_scaling)
    card["model_id_option"] = args.model_id
    card["trials"] = {}
    shipped_scores = condition_scores(maps, rule)  # what every trial is compared with
    for trial in args.trial:  # stages tried and not kept: same files, same protocol
        if not (trial / "config.json").is_file() or not any(trial.glob("*.safetensors")):
            print(f"skipping trial {trial}: no trained run there (retrain it with its config)", file=sys.stderr)
            continue
        tdet = Detector.load(trial, device="cpu")
        if set(val_files(tdet.config, args.per_source)) != set(sets):
            print(f"skipping trial {trial}: its validation sources differ from the default's", file=sys.stderr)
            continue
        last = recipe_chain(trial.resolve())[-1]
        tr = tdet.config["training"]
        tmaps = model_maps(tdet, pix, degraded)
        figures = accuracy_figures(tmaps, reals, fakes, rule, args.target_fpr)
        figures["vs_shipped"] = versus(shipped_scores, condition_scores(tmaps, rule), reals, fakes)
        label = trial_label(tdet.model_id, trial.name, taken=[card["model"], *card["trials"]])
        if last.get("command") == "average":
            card["trials"][label] = {"config": last["config"], "averaged_from": last["averaged_from"], **figures}
            continue
        if last.get("command") == "fit-head":
            card["trials"][label] = {"config": last["config"], "head_fit": last["head_fit"], **figures}
            continue
        card["trials"][label] = {
            "config": last["config"], "init_from": tr.get("init_from"), "augment": tr.get("augment"),
            "size": tr.get("size"), "lr": last["lr"], "epochs_run": last["epochs_run"],
            "source_weights": tr.get("source_weights"), "small_fraction": tr.get("small_fraction", 0.0),
            "reencode_fraction": tr.get("reencode_fraction", 0.0),
            "saturation_fraction": tr.get("saturation_fraction", 0.0),
            "grey_fraction": tr.get("grey_fraction", 0.0),
            "jpeg_fraction": tr.get("jpeg_fraction", 0.0),
            "chroma_match_fraction": tr.get("chroma_match_fraction", 0.0),
            "image_loss_weight": tr.get("image_loss_weight", 0.0), "seed": tr.get("seed", 0),
            **distillation_fields(tr), **hard_mining_fields(tr), **figures}

    if args.earlier_card:
        carried, why = carried_trials(json.loads(args.earlier_card.read_text()), card, _committed_name(args.earlier_card))
        card["trials"].update(carried)
        print(f"carried {len(carried)} trials from {args.earlier_card}" + (f": {why}" if why else ""), file=sys.stderr)

    # Control 1: format. The same pixels re-encoded as JPEG (q90) vs kept lossless.
    fmt = {}
    for n, (lab, arrs) in pix.items():
        j = score_arrays(det, [jpeg(a, 90) for a in arrs])
        fmt[n] = {"mean_abs_delta": float(np.abs(j - clean[n]).mean()),
                  "verdict_flips": float(((j >= threshold) != (clean[n] >= threshold)).mean())}
    card["control_format"] = fmt
    card["control_enlarged"] = enlarged_control(det, pix, threshold)
    card["fpr_unused"] = unused_real_fpr(det, cfg, sets, threshold, near_from=(fig.get("near_threshold") or {}).get("from"))
    from outside_reals import outside_real_figures  # benchmarks/outside_reals.py: photos from outside ../shared/data

    card["outside_reals"] = outside_real_figures(det, threshold, (fig.get("near_threshold") or {}).get("from"))
    card["small_images"] = small_image_figures(det, pix[reals[0]][1], threshold)

    import torch

    speed = {"threads": torch.get_num_threads()}
    full = build_model("resnet50_full")
    models = {"this": det.model, "resnet50_full": full}
    if args.compare_model:
        compared = Detector.load(args.compare_model, device="cpu")
        models["compared"], speed["compared_model"] = compared.model, compared.model_id
    at256 = throughputs(models, 256, 8)
    speed.update({f"{k}@256": v for k, v in at256.items()})
    speed["this@1024"] = throughputs({"this": det.model}, 1024, 1, rounds=3, seconds=3.0)["this"]
    speed["ratio_this_vs_resnet50@256"] = speed["this@256"] / speed["resnet50_full@256"]
    if args.compare_model:
        speed["ratio_compared_vs_resnet50@256"] = speed["compared@256"] / speed["resnet50_full@256"]
    # One thread (e.g. one Ray actor per core): a small model parallelises less well inside one process
    # than ResNet-50 does, so the ratio depends on the thread count.
    torch.set_num_threads(1)
    one = throughputs({"this": det.model, "resnet50_full": full}, 256, 8)
    speed["this@256_1thread"], speed["resnet50_full@256_1thread"] = one["this"], one["resnet50_full"]
    speed["ratio_this_vs_resnet50@256_1thread"] = speed["this@256_1thread"] / speed["resnet50_full@256_1thread"]
    torch.set_num_threads(speed["threads"])
    from performance import conv_macs  # benchmarks/performance.py: the audit benchmark's compute count

    speed["gmac_this@256"] = conv_macs(det.model, 256) / 1e9
    speed["gmac_resnet50_full@256"] = conv_macs(full, 256) / 1e9
    if args.compare:
        card["compare"] = compared_card(args.compare)
    card["images_per_second_cpu"] = speed

    # failure examples: worst false positive per real source and worst false negative per fake source
    from forensics.overlay import render_overlay

    fig_dir = args.out / f"{args.role}_model"
    fig_dir.mkdir(parents=True, exist_ok=True)
    examples = []
    for n in reals + fakes:
        lab, arrs = pix[n]
        s = clean[n]
        i = int(np.argmax(s) if lab == 0 else np.argmin(s))
        kind = "false positive" if lab == 0 else "false negative"
        wrong = (s[i] >= threshold) if lab == 0 else (s[i] < threshold)
        cm = det.cell_map(arrs[i])
        name = n.replace(":", "_")
        arr = arrs[i]
        if max(arr.shape[:2]) > 512:
            arr = resize(arr, 512 / max(arr.shape[:2]))
            cm = det.cell_map(arr)
        render_overlay(arr, cm.probabilities, cm.stride, fig_dir / f"{name}.png", score=float(s[i]),
                       label="fake" if s[i] >= threshold else "real", threshold=threshold,
                       title=f"{n}: {'worst ' + kind if wrong else 'hardest, still correct'} (P(fake)={s[i]:.3f})")
        examples.append((n, kind, bool(wrong), f"{args.role}_model/{name}.png"))
    card["examples"] = examples
    (args.out / f"{args.role}_model.json").write_text(json.dumps(card, indent=2))
    write_card(card, args.out / f"{args.role}_model.md")
    if args.publish:
        dst = REPO / "forensics" / "weights" / args.role
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.run / "model.safetensors", dst / "model.safetensors")
        cfg = json.loads((args.run / "config.json").read_text())
        calibration = {"target_fpr": args.target_fpr, "rule": "max over real sources",
                       "per_source_threshold": per_source_t,
                       "per_source_fpr": {n: v["fpr"] for n, v in card["fpr"].items()},
                       "profiles": {n: {"threshold": round(v["threshold"], 6), "what": v["what"], "sources": v["sources"]}
                                    for n, v in card.get("profiles", {}).items()}}
        cfg.update(threshold=round(threshold, 6), **rule.to_config(), model_id=det.model_id, calibration=calibration)
        cfg["training"] = {k: v for k, v in cfg["training"].items() if k not in ("out",)}
        (dst / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        print(f"published to {dst} with threshold {threshold:.4f}")


def _resolution_caveat(card: dict) -> list[str]:
    """How finely these files tell two models apart: half the median width of the trials' bootstrap intervals."""
    vs = [t["vs_shipped"] for t in (card.get("trials") or {}).values() if t.get("vs_shipped")]
    if not vs:
        return []
    half = {c: float(np.median([v[c]["high"] - v[c]["low"] for v in vs])) / 2 for c in vs[0]}
    few = len(vs) < 5
    return [f"- These files resolve mean-AP differences down to about {half['clean']:.4f} clean and "
            f"{half['jpeg75_resize0.5']:.3f} after JPEG 75 + 0.5x (half the median width of the 95% paired "
            f"bootstrap intervals of the {len(vs)} trial{'s' if len(vs) > 1 else ''} scored against this model in "
            "\"Stages tried and not kept\""
            + ("; so few that the figure is a rough guide, since it depends on how alike the models compared are; the "
               "replacement rule's margins stay as set" if few else "")
            + "); smaller differences between models, this one included, are not evidence that one is better."]


def _selection_caveat(recipe: list[dict]) -> str:
    """How much the validation files this card scores were used to pick the weights."""
    if recipe and recipe[-1].get("command") == "average":
        return ("- Model selection: the final stage is a weight average; its weights were chosen on these validation "
                "files among the averages in the \"Stages tried and not kept\" table (the largest weight of the "
                "later stage that did not lower the clean mean AP), so a little optimism remains. The averaged "
                "stages keep their last epoch (learning rate annealed to 0); earlier stages chose their best epoch "
                "on these files (`selection` column). None of these files was trained on.")
    if recipe and recipe[-1].get("command") == "fit-head":
        return ("- Model selection: the final stage refits the head for a fixed number of epochs on training images "
                "only (no choice made on validation files); the trunk is the earlier stages', which chose their best "
                "epoch on these validation files where their `selection` column says so. None of these files was "
                "trained on.")
    if recipe and recipe[-1]["selection"] == "last":
        return ("- Model selection: the final stage keeps its last epoch (learning rate annealed to 0, no choice "
                "made on validation files), so its figures are not picked among noisy epochs. The earlier stages "
                "chose their best epoch on these validation files (`selection` column of the recipe) and the final "
                "stage starts from those weights, so a little optimism may remain. None of these files was trained on.")
    return ("- The best epoch was chosen on the same validation files this card scores (mean per-source AP, "
            "the `selection` column of the recipe), so the AP figures above are optimistic for a model picked "
            "among noisy epochs; the training log (`metrics.json` of the run) shows the neighbouring epochs.")


def head_fit_fields(fit: dict) -> dict:
    """A head-refit stage's settings as the card records them (from its config's `head_fit`)."""
    return {k: fit.get(k) for k in ("init_from", "images_per_source", "reencoded_views", "cells_per_view",
                                    "head_hidden", "epochs", "lr")}


def _head_fit_text(fit: dict, start: str) -> str:
    """One phrase for a head refit: what it starts from and what it fits on."""
    return (f"head refit on whole training images of {start} ({fit['images_per_source']} per source, clean and "
            f"{fit['reencoded_views']}x re-encoded, {fit['cells_per_view']} cells each"
            + (f"; per-cell MLP of width {fit['head_hidden']}" if fit.get("head_hidden") else "; linear head")
            + f"), {fit['epochs']} epochs at lr {fit['lr']:g}, trunk kept")


def _average_text(parts: list[dict]) -> str:
    return "weight average of " + " and ".join(f"{p['model']} ({p['weight']:g})" for p in parts)


def hard_mining_fields(training: dict) -> dict:
    """A stage's hard-example mining settings, from its training config."""
    return {"hard_real_share": training.get("hard_real_share", 0.0), "hard_real_top": training.get("hard_real_top"),
            "hard_fake_share": training.get("hard_fake_share", 0.0), "hard_fake_top": training.get("hard_fake_top"),
            "hard_per_source": bool(training.get("hard_per_source", False))}


def _hard_mining_parts(st: dict, long: bool) -> list[str]:
    """How a stage drew hard examples, one phrase per class ([] when it did not)."""
    parts = []
    for cls, share, top, worst in (("real", "hard_real_share", "hard_real_top", "most fake"),
                                   ("fake", "hard_fake_share", "hard_fake_top", "least fake")):
        if not st.get(share):
            continue
        pool = (f"each source's {st[top]:.0%} hardest {cls} training files" if st.get("hard_per_source")
                else f"the {st[top]:.0%} hardest {cls} training files")
        parts.append(f"{st[share]:.0%} of {cls} draws from {pool}"
                     + (f" (those its warm-start model scored {worst})" if long else ""))
    return parts


def _saturation_range() -> str:
    from forensics.data import SATURATION_RANGE

    return f"{SATURATION_RANGE[0]:g}-{SATURATION_RANGE[1]:g}x"


def distillation_fields(training: dict) -> dict:
    """A stage's distillation options as the card records them (none for a stage without one)."""
    if not training.get("distill_from"):
        return {}
    return {"distill_from": training["distill_from"], "distill_weight": training.get("distill_weight", 0.0)}


def _trial_change(t: dict) -> str:
    """What a trial stage did differently, in one cell."""
    if t.get("averaged_from"):
        return _average_text(t["averaged_from"])
    if t.get("head_fit"):
        return _head_fit_text(t["head_fit"], t["head_fit"]["init_from"])
    return (f"{t['augment']} augmentation, {t['size']} px crops, lr {t['lr']}, {t['epochs_run']} epochs from {t['init_from']}"
            + (f", sources drawn more often: {', '.join(f'{k} x{v:g}' for k, v in t['source_weights'].items())}"
               if t.get("source_weights") else "")
            + (f", {t['small_fraction']:.0%} small batches" if t.get("small_fraction") else "")
            + (f", {t['reencode_fraction']:.0%} of images re-encoded whole" if t.get("reencode_fraction") else "")
            + (f", {t['saturation_fraction']:.0%} of images with colour saturation scaled {_saturation_range()}"
               if t.get("saturation_fraction") else "")
            + (f", {t['grey_fraction']:.0%} of images turned grey" if t.get("grey_fraction") else "")
            + (f", {t['jpeg_fraction']:.0%} of images re-saved whole as JPEG 70-100" if t.get("jpeg_fraction") else "")
            + (f", {t['chroma_match_fraction']:.0%} of images with mean chroma matched to a level drawn alike for "
               f"both classes" if t.get("chroma_match_fraction") else "")
            + "".join(f", {part}" for part in _hard_mining_parts(t, long=True))
            + (f", image-score loss (weight {t['image_loss_weight']:g}) added to the cell loss"
               if t.get("image_loss_weight") else "")
            + (f", cells of the crops not re-encoded distilled from {t['distill_from']} (weight {t['distill_weight']:g})"
               if t.get("distill_from") else "")
            + (f", random seed {t['seed']}" if t.get("seed") else ""))


def _versus_cell(trial: dict) -> str:
    """'+0.00003 [-0.00019, +0.00031]; ...' for a trial scored by this card, '-' otherwise."""
    vs = trial.get("vs_shipped")
    if not vs:
        return "-"
    return "; ".join(interval_text(v) for v in vs.values())


def mean_ap_of(figures: dict, condition: str) -> float:
    """Mean AP over the fake sets of one model's figures (`accuracy_figures`) under one condition."""
    return float(np.mean([v[condition] for v in figures["ap"].values()]))


# How much lower a trial's mean AP may be, at the low end of its 95% paired interval, and still replace
# the shipped model when the other mean AP rises resolvably: the resolution of the card's files (half the
# median interval width of v28's card: 0.0015 clean, 0.010 after JPEG 75 + 0.5x). Fixed before the first
# trials judged by it (v41/v42) were scored; the trials before them had to raise both mean APs.
NONINFERIORITY_MARGIN = {"clean": 0.0015, "jpeg75_resize0.5": 0.010}
MARGIN_RULE_FROM = 41  # the first trial version judged by it


def ship_blockers(shipped: dict, trial: dict, target_fpr: float) -> list[str]:
    """Why a trial (figures with `vs_shipped`) does not meet the card's rule for replacing the `shipped`
    model ([] when it does): every false-positive rate at most `target_fpr`, at least one mean-AP gain
    resolved (its 95% interval above 0), and neither mean AP lower by more than `NONINFERIORITY_MARGIN`
    at the low end of its interval. Without intervals, both mean APs must be higher."""
    out = []
    if worst_real_fpr(trial) > target_fpr:
        out.append(f"a real source's false-positive rate above {target_fpr:.0%}")
    if worst_control_fpr(trial) > target_fpr:
        out.append(f"a downscale-control false-positive rate above {target_fpr:.0%}")
    vs = trial.get("vs_shipped") or {}
    for key, what in (("clean", "clean"), ("jpeg75_resize0.5", "JPEG75+0.5x")):
        mine, theirs = mean_ap_of(trial, key), mean_ap_of(shipped, key)
        if key in vs and vs[key]["low"] < -NONINFERIORITY_MARGIN[key]:
            out.append(f"{what} mean AP may be lower by more than {NONINFERIORITY_MARGIN[key]:g} "
                       f"(interval down to {vs[key]['low']:+.5f})")
        elif key not in vs and mine <= theirs:
            out.append(f"{what} mean AP {'lower' if mine < theirs else 'not higher'}")
    if vs and not any(v["low"] > 0 for v in vs.values()):
        out.append("no gain resolved")
    return out


def scored_before_margin_rule(model_id: str) -> bool:
    """Whether a trial (by its model id, forensics-default-vNN...) was first scored before the margin rule
    was fixed (`NONINFERIORITY_MARGIN`, fixed before v41): such a trial is not shipped after the fact."""
    found = re.search(r"-v(\d+)", model_id)
    return bool(found) and int(found.group(1)) < MARGIN_RULE_FROM


def _not_kept_text(card: dict, better: list[str]) -> str:
    """' Of the resolvably better, not kept: `m` (why); ...' for the `better` trials that break the replacement
    rule, or that meet it but were scored before it was fixed."""
    why = {m: ship_blockers(card, card["trials"][m], card["target_fpr"]) for m in better}
    held = [f"`{m}` ({', '.join(w)})" for m, w in why.items() if w]
    held += [f"`{m}` (meets the current rule, but was first scored before it was fixed; not shipped after the fact)"
             for m, w in why.items() if not w and scored_before_margin_rule(m)]
    return f" Of the resolvably better, not kept: {'; '.join(held)}." if held else ""


def _trials(card: dict) -> list[str]:
    """Later stages that were trained and scored like the default, and why they were not shipped."""
    trials = card.get("trials") or {}
    if not trials:
        return []
    external = [n for n in card["ap"] if not n.split(":", 1)[1].startswith("gen_")]
    rows = [("this model (shipped)", "-", card),
            *[(f"`{m}` (`{t['config']}`)" + (" *" if t.get("carried_from") else ""), _trial_change(t), t)
              for m, t in trials.items()]]
    carried_from = sorted({t["carried_from"] for t in trials.values() if t.get("carried_from")})
    L = ["", "## Stages tried and not kept", "",
         "Each was trained (or averaged) as a further stage and scored here on the same files with the same protocol "
         "(its own threshold, calibrated the same way); recipe stages that were candidates on their own are listed too. External-set cells are AP clean / after JPEG 75 + 0.5x.", "",
         "| model | what changed | mean AP clean | mean AP JPEG75+0.5x | minus the shipped model's, with 95% interval "
         "(clean; JPEG75+0.5x) | worst real-source FPR | worst downscale-control FPR | "
         + " | ".join(f"AP {n.split(':', 1)[1]}" for n in external) + " |",
         "|---|---|---|---|---|---|---|" + "---|" * len(external)]
    for name, what, c in rows:
        L.append(f"| {name} | {what} | {mean_ap_of(c, 'clean'):.4f} | {mean_ap_of(c, 'jpeg75_resize0.5'):.4f} | {_versus_cell(c)} | "
                 f"{worst_real_fpr(c):.3f} | {worst_control_fpr(c):.3f} | "
                 + " | ".join(f"{c['ap'][n]['clean']:.3f} / {c['ap'][n]['jpeg75_resize0.5']:.3f}" for n in external) + " |")
    scored = {m: t["vs_shipped"] for m, t in trials.items() if t.get("vs_shipped")}
    better_ids = [m for m, vs in scored.items() if any(v["low"] > 0 for v in vs.values())]
    better = [f"`{m}`" for m in better_ids]
    worse = [f"`{m}`" for m, vs in scored.items() if any(v["high"] < 0 for v in vs.values())]
    L += ["", "The interval column is a paired bootstrap over the card's files (each set's files drawn with replacement, "
          "the same draws for both models, 400 rounds): an interval that contains 0 is a difference these files cannot "
          "resolve. Of the trials scored here, resolvably better than the shipped model in a mean AP: "
          + (", ".join(better) or "none") + "; resolvably worse: " + (", ".join(worse) or "none")
          + "; every other difference is within what the files can tell apart."
          + _not_kept_text(card, better_ids), "",
          "A trial replaces the shipped model only if it meets every false-positive target, resolves a gain in at "
          "least one mean AP (its interval above 0), and lowers neither mean AP by more than the files resolve (the "
          f"low end of its interval above -{NONINFERIORITY_MARGIN['clean']:g} clean and "
          f"-{NONINFERIORITY_MARGIN['jpeg75_resize0.5']:g} after JPEG 75 + 0.5x, the resolution of these files). This margin "
          "rule was fixed before trials v41/v42 were scored; the trials before them had to raise both mean APs. A gain "
          "the files cannot resolve does not earn another recipe stage."
          " The card lists the trials whose weights were at hand when it was made; the cards of earlier defaults"
          " ([research/cards/README.md](../research/cards/README.md)) list the trials scored against them.", ""]
    if carried_from:
        L[-1:] = ["", "\\* Not scored again by this run: its weights are not committed (remake it with its config: `forensics train` or `forensics average`). "
                  "Its figures come from an earlier run of this script on the same files with the same protocol ("
                  + ", ".join(f"`{c}`" for c in carried_from) + "), checked by models scored in both runs giving "
                  "identical figures; its threshold was set the same way.", ""]
    return L


def _small_images(card: dict) -> list[str]:
    small = card.get("small_images")
    if not small:
        return []
    first = next(iter(small.values()))
    small_stages = [str(i + 1) for i, st in enumerate(card.get("recipe", [])) if st.get("small_fraction")]
    L = ["## Small images (thumbnails)", "",
         f"Each bundled generator's native samples against {first['n_real']} real validation photos of the first "
         "real source, centre-cropped and downscaled to the same size (nothing re-encoded). "
         + (f"Stage{'s' if len(small_stages) > 1 else ''} {', '.join(small_stages)} trained on unpadded 32-56 px "
            "crops and thumbnails (small batches); still, "
            if small_stages else "The model was trained on 64 px crops of images at least that large; ")
         + "below 64 px a scan record carries the note \"image smaller than 64 px: few patches, score is weak "
         "evidence\".", "",
         "| generator | side px | n real / fake | AP | FPR reals at threshold | TPR at threshold |", "|---|---|---|---|---|---|"]
    for name, v in small.items():
        L.append(f"| {name} | {v['side']} | {v['n_real']} / {v['n_fake']} | {v['ap']:.3f} | {v['fpr']:.3f} | {v['tpr']:.3f} |")
    return L + [""]


def _stages_by_augment(recipe: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for i, st in enumerate(recipe):
        if st.get("command") not in ("average", "fit-head"):
            out.setdefault(st["augment"], []).append(str(i + 1))
    return out


def _comparison(card: dict, card_dir: Path) -> list[str]:
    """Side-by-side with another card (same validation files and protocol), linked relative to `card_dir`."""
    old = card.get("compare")
    if not old:
        return []
    other = Path(os.path.relpath(Path(old["card"]).with_suffix(".md").resolve(), card_dir.resolve())).as_posix()
    L = [f"## Against `{old['model']}` ({other_text(card, old)}; card [{other}]({other}))", "",
         "| fake source | AP clean, this | AP clean, other | AP JPEG75+0.5x, this | AP JPEG75+0.5x, other |",
         "|---|---|---|---|---|"]
    for n, v in card["ap"].items():
        o = old["ap"].get(n, {})
        L.append(f"| {n} | {v['clean']:.3f} | {o.get('clean', float('nan')):.3f} | {v['jpeg75_resize0.5']:.3f} "
                 f"| {o.get('jpeg75_resize0.5', float('nan')):.3f} |")
    L += ["", f"Worst downscale-control FPR: this {worst_control_fpr(card):.3f}, other {worst_control_fpr(old):.3f}. "
          f"Shipped thresholds: this {card['threshold']:.4f}, other {old['threshold']:.4f}.", ""]
    return L


def _threshold_caveat(card: dict) -> list[str]:
    """When one real photo of a small source sets the threshold, say what that costs in detections."""
    per_t, top = card.get("per_source_threshold") or {}, card.get("highest_real") or {}
    if not per_t or not top:
        return []
    binding = max(per_t, key=per_t.get)
    missed = [f for f, t in card["tpr_at_threshold"].items() if t < 0.5]
    if not missed:
        return []
    runner_up = max((r for r in per_t if r != binding), key=per_t.get, default=None)
    at_other = card.get("tpr_at_source_threshold") or {}
    without = (f" Without {binding}, the threshold would be {per_t[runner_up]:.3f} (set by {runner_up}) and the TPR "
               + ", ".join(f"{f} {at_other[f][runner_up]:.3f}" for f in missed) + "."
               if runner_up and all(f in at_other for f in missed) else "")
    return [f"- One real photo sets the threshold: `{top[binding]['file']}` ({binding}, P(fake) "
            f"{top[binding]['score']:.3f}), since a source with under 100 validation photos may have no false "
            f"positive at all. At that threshold few fakes of "
            + ", ".join(f"{f} ({card['tpr_at_threshold'][f]:.3f})" for f in missed)
            + " are flagged (TPR in brackets) although their AP is higher." + without
            + " Where the photos to be scanned are all of one kind (say, portraits), calibrating on real photos "
            "of that kind (`forensics calibrate`) gives a threshold that fits them"
            + (f"; for portraits the model ships one (`--profile portraits`, {card['profiles']['portraits']['threshold']:.3f}"
               ", with its caveats under \"Threshold profile\")" if "portraits" in (card.get("profiles") or {}) else "")
            + "."]


def ok(value, target: float, at_most: bool = False) -> str:
    """'yes' / '**no**' for a figure against its target ('-' when there is no figure)."""
    if value is None:
        return "-"
    return "yes" if (value <= target if at_most else value >= target) else "**no**"


def _unused_real_fpr(card: dict) -> list[str]:
    """The shipped threshold on the held-back real photos that did not set it."""
    rows = card.get("fpr_unused") or {}
    if not rows:
        return []
    near = all("near_threshold" in v for v in rows.values())
    L = ["", "### On the rest of the held-back real photos (none of them set the threshold)", "",
         "The sources with more validation photos than the card scores above: every remaining held-back photo, "
         "scored at the shipped threshold. None of them set the threshold or took part in the card's choice among "
         "trial models (the early stages that picked a best epoch did so on up to 150 validation files per source, "
         "which may include some of them), so this is the card's cleanest false-positive check.", "",
         "| real source | n | false positives | FPR | meets target | 95% upper bound on the FPR | highest score |"
         + (" marked near threshold |" if near else ""),
         "|---|---|---|---|---|---|---|" + ("---|" if near else "")]
    for n, v in rows.items():
        L.append(f"| {n} | {v['n']} | {v['false_positives']} | {v['fpr']:.3f} | {ok(v['fpr'], 0.01, True)} | "
                 f"{v['fpr_upper95']:.3f} | {v['max_score']:.3f} |" + (f" {v['near_threshold']} |" if near else ""))
    shown = [n for n, v in rows.items() if v["fpr_upper95"] <= 0.01]
    L += ["", (f"With these photos, {', '.join(shown)} show{'s' if len(shown) == 1 else ''} the 1% target at 95% "
               "confidence." if shown else "No source has enough held-back photos to show the 1% target at 95% "
               "confidence.")]
    return L


def _held_out_threshold(card: dict) -> list[str]:
    """Each real source scored at the threshold the other real sources set (threshold transfer)."""
    rows = card.get("held_out_threshold") or {}
    if not rows:
        return []
    L = ["", "### The threshold the other real sources would set, on each held-out source", "",
         "What a threshold calibrated on other photos does to a population. Only the threshold is held out: the "
         "detector was still trained on every source (and three of them are CelebA faces at different sizes), so "
         "this is an optimistic view of a photo population it has never seen.", "",
         "| held-out real source | n | threshold from the others | FPR on it | 95% upper bound |", "|---|---|---|---|---|"]
    for n, v in rows.items():
        L.append(f"| {n} | {v['n']} | {v['threshold']:.4f} | {v['fpr']:.3f} | {v['fpr_upper95']:.3f} |")
    worst = max(rows, key=lambda n: rows[n]["fpr"])
    L += ["", f"Worst: {worst}, {rows[worst]['fpr']:.1%} of its validation photos flagged at {rows[worst]['threshold']:.4f}."
          if rows[worst]["fpr"] > 0 else "No held-out source has a false positive at the others' threshold."]
    return L


def _threshold_profiles(card: dict) -> list[str]:
    """The published threshold profiles: what each flags and what it costs on each kind of real photo."""
    profiles = card.get("profiles") or {}
    L = []
    lfw = ((card.get("outside_reals") or {}).get("groups") or {}).get(LFW_GROUP, {}).get("clean")
    for name, v in profiles.items():
        t = v["threshold"]
        L += ["", f"### Threshold profile `{name}` (`forensics scan --profile {name}`)", "",
              f"For {v['what']}: the highest of those sources' own 1% thresholds, {t:.6f}, in place of the shipped "
              f"{card['threshold']:.6f}. Scores do not change, only the verdict. It is calibrated on faces only, so "
              "use it only where every photo scanned is a portrait.", "",
              "| set | n | flagged at the profile's threshold | 95% upper bound (real sets) |", "|---|---|---|---|"]
        for n, r in v["fpr"].items():
            kind = "" if n in v["sources"] else " (not a face source)"
            L.append(f"| {n}{kind} | {r['n']} | {r['fpr']:.3f} | {r['fpr_upper95']:.3f} |")
        for f, rate in v["tpr"].items():
            L.append(f"| {f} | {card['ap'][f]['n']} | {rate:.3f} | - |")
        held = v.get("held_out") or {}
        if held:
            L += ["", "Each of its sources at the threshold its other sources set (only the threshold is held out): "
                  + "; ".join(f"{n} {h['fpr']:.3f} of {h['n']} at {h['threshold']:.4f}" for n, h in held.items()) + "."]
            worst = max(held, key=lambda n: held[n]["fpr"])
            if held[worst]["fpr"] > card.get("target_fpr", 0.01):
                L[-1] += (f" The profile's threshold is {worst}'s own: without it, {held[worst]['fpr']:.0%} of its photos "
                          "would be flagged, so portraits unlike all of these sources may see far more than 1% false "
                          "positives; calibrating on real photos of the kind scanned (`forensics calibrate`) is the "
                          "safer course.")
        if lfw:
            L += ["", f"Of the {lfw['n']} LFW face thumbnails from outside the training data (above), the highest scores "
                  f"{lfw['max_score']:.3f}: {'none' if lfw['max_score'] < t else 'some'} at the profile's threshold."]
    return L


def _bold_if_flagged(score: float, threshold: float) -> str:
    return f"**{score:.3f}**" if score >= threshold else f"{score:.3f}"


def _peak(image: dict) -> float:
    """An outside image's higher score, clean or re-encoded."""
    return max(image["score"], image["score_reencoded"])


def _split_outside(groups: dict) -> tuple[list[dict], list[dict]]:
    """The outside images of a card's "outside_reals" groups: (photographs, rendered graphics)."""
    photos = [p for name, g in groups.items() if name != GRAPHICS_GROUP for p in g.get("photos", [])]
    return photos, (groups.get(GRAPHICS_GROUP) or {}).get("photos", [])


def _image_rows(kind: str, images: list[dict], threshold: float) -> list[str]:
    """One table row per outside image, highest clean score first, scores at or over `threshold` in bold."""
    L = ["", f"| {kind} | what | size | score | after JPEG 75 + 0.5x |", "|---|---|---|---|---|"]
    for p in sorted(images, key=lambda p: -p["score"]):
        L.append(f"| `{p['file']}` | {p['what']} | {p['size'][0]}x{p['size'][1]} | "
                 f"{_bold_if_flagged(p['score'], threshold)} | {_bold_if_flagged(p['score_reencoded'], threshold)} |")
    return L


FORMAT_FLIPS_NAMED = 0.10  # Control 1 sets whose verdicts change this often under JPEG q90 are named as a caveat


def _format_caveat(card: dict) -> list[str]:
    """The fake sets whose verdicts JPEG q90 (Control 1) changes often, named as a caveat."""
    flips = sorted(((n, v["verdict_flips"]) for n, v in (card.get("control_format") or {}).items()
                    if n.startswith("fake:") and v["verdict_flips"] >= FORMAT_FLIPS_NAMED), key=lambda x: -x[1])
    if not flips:
        return []
    listed = ", ".join(f"{n} {f:.0%}" for n, f in flips)
    return [f"- Even light compression can hide a generated image: saved as JPEG q90 instead of lossless, the "
            f"verdict changes for {listed} of their images (Control 1). Their evidence is largely fine detail that a "
            "lossless file keeps and any JPEG removes, so a real verdict on a JPEG from a generator of this kind is "
            "weak evidence ([degradation.md](degradation.md): the default's AP at each JPEG quality)."]


def _outside_near_caveat(card: dict) -> list[str]:
    """The rendered graphics called fake and the outside photos that come near the threshold, named as caveats."""
    out = card.get("outside_reals") or {}
    photos, graphics = _split_outside(out.get("groups") or {})
    L = []
    flagged = [p for p in graphics if p["score"] >= out["threshold"]]
    if flagged:
        L.append("- Rendered graphics are not what it was trained on, and some are called fake although no generative "
                 "model made them: " + "; ".join(f"`{p['file']}` ({p['what']}, {p['score']:.3f})" for p in flagged)
                 + " (\"Real photographs from outside the training data\"). Logos, test patterns and drawings "
                 "in a moderation queue need another check: `forensics scan` adds a `looks rendered` note to a fake "
                 "or near-threshold verdict on an image that looks like a rendered graphic rather than a photograph "
                 "(a separate cue that never changes the score; [graphic_cue.md](graphic_cue.md)).")
    near = sorted((p for p in photos if out.get("near_from") is not None and _peak(p) >= out["near_from"]),
                  key=lambda p: -_peak(p))
    if near:
        listed = "; ".join(f"`{p['file']}` ({p['what']}, {_peak(p):.3f})" for p in near)
        L.append(f"- Real photos unlike the training sources can score high: of the photographs from outside the "
                 f"training data, {listed} score at or above {out['near_from']:.3f}, where `forensics scan` marks a "
                 "real verdict near threshold (clean or re-encoded; \"Real photographs from outside the training "
                 "data\"): a photo unlike any in training can come close to a fake verdict.")
    return L


def _outside_reals(card: dict) -> list[str]:
    """The shipped threshold on real photographs from outside ../shared/data (benchmarks/outside_reals.py)."""
    out = card.get("outside_reals") or {}
    groups = out.get("groups") or {}
    if not groups:
        return []
    near = out.get("near_from") is not None
    L = ["", "### Real photographs from outside the training data", "",
         "The camera-captured images that ship inside scikit-image and scikit-learn "
         "(`python benchmarks/outside_reals.py`): press and museum photos, a microscope slide, fundus photographs, a "
         "scanned page, texture-library photos and LFW face thumbnails. None of them was trained on, set the threshold "
         "or chose among trial models, and most come from camera pipelines no training source has, so this is the "
         "card's one look at real photos from outside the training population. Too few to bound the rate tightly, "
         "and grayscale photos (scored as three equal channels) are rarer in training than in this table. As a "
         "contrast, the rendered graphics scikit-image ships are scored too: not photographs, and made by no "
         "generative model.", "",
         "| group | condition | n | flagged | 95% upper bound on the FPR | median score | highest score |"
         + (" marked near threshold |" if near else ""),
         "|---|---|---|---|---|---|---|" + ("---|" if near else "")]
    for name, g in groups.items():
        for cond, label in (("clean", "as shipped"), ("jpeg75_resize0.5", "JPEG 75 + 0.5x")):
            v = g.get(cond)
            if v:
                L.append(f"| {name} | {label} | {v['n']} | {v['flagged']} | {v['fpr_upper95']:.3f} | "
                         f"{v['median_score']:.3f} | {v['max_score']:.3f} |"
                         + (f" {v['near_threshold']} |" if near else ""))
    photos, graphics = _split_outside(groups)
    if photos:
        L += _image_rows("photo", photos, out["threshold"])
        top = max(photos, key=_peak)
        flagged = sum(v["flagged"] for name, g in groups.items() if name != GRAPHICS_GROUP
                      for v in (g.get("clean"), g.get("jpeg75_resize0.5")) if v)
        L += ["", "Bold: at or over the shipped threshold (called fake). "
              + (f"{flagged} flagged verdicts in all. " if flagged else "No photograph is called fake, clean or re-encoded. ")
              + f"Closest to the threshold: `{top['file']}` ({top['what']}) at {_peak(top):.3f}."]
    if graphics:
        L += _image_rows("rendered graphic", graphics, out["threshold"])
    return L


def _ap_by_real(card: dict) -> list[str]:
    """Clean AP of each fake set against one real source at a time, and what holds a low AP down."""
    by_real = card.get("ap_by_real")
    if not by_real:
        return []
    reals = list(card["fpr"])
    L = ["", "### Clean AP of each fake set against each real source", "",
         "The pooled AP above is bounded by the hardest real source; this shows which one it is.", "",
         "| fake source | " + " | ".join(r.split(":", 1)[1] for r in reals) + " |", "|---|" + "---|" * len(reals)]
    for f, row in by_real.items():
        L.append(f"| {f} | " + " | ".join(f"{row[r]:.3f}" for r in reals) + " |")
    notes, without = [], card.get("ap_without_top_real") or {}
    for f, row in by_real.items():
        if card["ap"][f]["clean"] >= 0.99:
            continue
        worst = min(row, key=row.get)
        top = (card.get("highest_real") or {}).get(worst)
        notes.append(f"{f}: {card['ap'][f]['clean']:.3f} pooled, lowest against {worst} ({row[worst]:.3f})"
                     + (f", whose highest-scoring photo `{top['file']}` scores {top['score']:.3f}" if top else "")
                     + (f" (without that one photo the pooled AP would be {without[f]:.3f})" if f in without else "")
                     + "; " + ", ".join(f"{r.split(':', 1)[1]} {v:.3f}" for r, v in row.items() if r != worst))
    if notes:
        L += ["", "Fake sets under 0.99 clean AP:", "", *[f"- {n}" for n in notes]]
    return L


def _reencoded_ap_by_real(card: dict) -> list[str]:
    """AP after JPEG 75 + 0.5x of each fake set against one real source at a time, and the median
    score of every set clean and re-encoded: which real photos, and which class's drift, cost the AP."""
    by_real, medians = card.get("ap_by_real_jpeg75_resize0.5"), card.get("median_score")
    if not by_real or not medians:
        return []
    reals = list(card["fpr"])
    L = ["", "### AP after JPEG 75 + 0.5x of each fake set against each real source", "",
         "Both classes re-encoded, as in the pooled column above. A fake set loses AP where its scores fall into "
         "the range of one real source's re-encoded scores; the median image score of every set, clean and "
         "re-encoded, shows which class moved.", "",
         "| fake source | " + " | ".join(r.split(":", 1)[1] for r in reals) + " |", "|---|" + "---|" * len(reals)]
    for f, row in by_real.items():
        L.append(f"| {f} | " + " | ".join(f"{row[r]:.3f}" for r in reals) + " |")
    L += ["", "| set | median score clean | median score after JPEG 75 + 0.5x |", "|---|---|---|"]
    L += [f"| {n} | {m['clean']:.3f} | {m['jpeg75_resize0.5']:.3f} |" for n, m in medians.items()]
    notes = []
    for f, row in by_real.items():
        if card["ap"][f]["jpeg75_resize0.5"] >= 0.95:
            continue
        worst = min(row, key=row.get)
        notes.append(f"{f}: {card['ap'][f]['jpeg75_resize0.5']:.3f} pooled, lowest against {worst} ({row[worst]:.3f}); "
                     f"its median score falls {medians[f]['clean']:.3f} -> {medians[f]['jpeg75_resize0.5']:.3f}, "
                     f"{worst}'s moves {medians[worst]['clean']:.3f} -> {medians[worst]['jpeg75_resize0.5']:.3f}")
    if notes:
        L += ["", "Fake sets under 0.95 AP after re-encoding:", "", *[f"- {n}" for n in notes]]
    return L


def _score_rules(card: dict) -> list[str]:
    """Mean APs of the shipped model and each trial under every candidate image-score rule."""
    if "by_rule" not in card or "score_rule" not in card:
        return []
    chosen = card["score_rule"]["name"]
    models = {"this model (shipped)": card, **{f"`{m}`": t for m, t in (card.get("trials") or {}).items() if "by_rule" in t}}
    rules = list(card["by_rule"])
    L = ["## Image score rule (how cell scores become one image score)", "",
         f"Shipped: **{card['score_rule']['text']}** (`aggregation` {chosen} in the model's config.json). Each model "
         "scored on the same cell maps under each rule; cells are mean AP clean / after JPEG 75 + 0.5x, and the "
         "threshold each rule would need for the 1%-per-source false-positive target.", "",
         "| model | " + " | ".join(f"`{r}`" for r in rules) + " |", "|---|" + "---|" * len(rules)]
    for name, c in models.items():
        L.append(f"| {name} | " + " | ".join(f"{c['by_rule'][r]['clean']:.4f} / {c['by_rule'][r]['jpeg75_resize0.5']:.3f} "
                                              f"(t {c['by_rule'][r]['threshold']:.4f})" for r in rules) + " |")
    if chosen in rules and "mean_prob" in rules and chosen != "mean_prob":
        better = [n for n, c in models.items() if all(c["by_rule"][chosen][k] > c["by_rule"]["mean_prob"][k]
                                                       for k in ("clean", "jpeg75_resize0.5"))]
        L += ["", f"`{chosen}` raises both mean APs over the reference mean of per-cell P(fake) for {len(better)} of "
              f"{len(models)} models above. A rule that averages only the most-fake cells lets localised artifacts "
              "count where a plain mean dilutes them with clean background; it also raises the scores of the hardest "
              "real photos, so its threshold is higher."]
    return L + [""]


def scaling_helps(cal: dict) -> bool:
    """The card's rule for shipping a rescaling: cross-fitted on clean and re-encoded files, it lowers the
    ECE both clean and re-encoded."""
    fitted, raw = cal["platt_clean_jpeg75_resize0.5"], cal["unscaled"]
    return all(fitted[c]["ece"] < raw[c]["ece"] for c in ("clean", "jpeg75_resize0.5"))


def _calibration(card: dict) -> list[str]:
    """Whether the score reads as a probability: ECE etc. of the shipped score and of Platt-rescaled ones."""
    cal = card.get("calibration")
    if not cal or "unscaled" not in cal:
        return []
    sc = cal.get("scaling")
    rows = {"aggregated score, no rescaling" + (" (shipped)" if not sc else ""): cal["unscaled"],
            **({f"shipped: Platt rescaling (slope {sc['slope']:.3f}, intercept {sc['intercept']:+.3f}) fitted on all "
                "these files, clean and re-encoded (scored on what it was fitted on)": cal["shipped"]} if sc else {}),
            "Platt rescaling fitted on clean files (cross-fitted)": cal["platt_clean"],
            "Platt rescaling fitted on clean and re-encoded files (cross-fitted)": cal["platt_clean_jpeg75_resize0.5"]}
    L = ["## Score calibration (does the score read as P(fake)?)", "",
         "With half the validation images fake (each source weighing the same within its class): expected "
         "calibration error (ECE, 10 score bins), log loss and Brier score of the image score, clean / after "
         "JPEG 75 + 0.5x. A Platt rescaling maps the score through sigmoid(slope x logit(score) + intercept); the "
         "cross-fitted rows fit it on one half of the files and score it on the other, both ways, so they are not "
         "scored on what they fit. A rescaling ships when, cross-fitted on clean and re-encoded files, it lowers "
         "the ECE both clean and re-encoded; it is monotone, so it changes no AP and no verdict.", "",
         "| score | ECE | log loss | Brier |", "|---|---|---|---|"]
    for name, r in rows.items():
        L.append(f"| {name} | " + " | ".join(f"{r['clean'][k]:.3f} / {r['jpeg75_resize0.5'][k]:.3f}"
                                             for k in ("ece", "log_loss", "brier")) + " |")
    L += ["", "Reliability of the shipped score (clean files):", "",
          "| score bin | share of the weight | mean score | share fake |", "|---|---|---|---|"]
    for b in cal["shipped_bins"]:
        L.append(f"| {b['bin'][0]:.1f}-{b['bin'][1]:.1f} | {b['weight']:.3f} | {b['mean_score']:.3f} | {b['fake_share']:.3f} |")
    if sc:
        verdict = ("The shipped score applies the rescaling fitted on all these files; the cross-fitted row for "
                   "the same recipe is the fair estimate of its error on new files.")
    elif scaling_helps(cal):
        verdict = ("A rescaling fitted on clean and re-encoded files would lower the ECE both clean and re-encoded; "
                   "this model does not apply one yet (`--fit-scaling`).")
    else:
        verdict = "The shipped score is not rescaled: no rescaling lowers the ECE both clean and re-encoded."
    L += ["", verdict + " The threshold sits far above 0.5 because the 1% false-positive target is met on every "
          "real source separately, and a few real photos score high with confidence (section on false positives "
          "above). So read the verdict against the threshold, and the score as the chance that the image is fake "
          "when half of all images are, with the table above as its accuracy; a score high but under the threshold "
          "is a real verdict made with less margin.", ""]
    return L


def _recipe_rows(recipe: list[dict]) -> list[str]:
    """One table row per stage; a weight-average stage names the stages it averages."""
    stage_of = {st["run"]: str(i + 1) for i, st in enumerate(recipe)}
    rows = []
    for i, st in enumerate(recipe):
        if st.get("command") == "average":
            parts = " and ".join(f"stage {stage_of.get(p['model'], p['model'])} ({p['weight']:g})" for p in st["averaged_from"])
            rows.append(f"| {i + 1} | `forensics average --config {st['config']}` | {st['arch']} | weight average of "
                        f"{parts} | - | - | - | - | - | - |")
        elif st.get("command") == "fit-head":
            fit = st["head_fit"]
            start = stage_of.get(fit["init_from"])
            rows.append(f"| {i + 1} | `forensics fit-head --config {st['config']}` | {st['arch']} | "
                        f"{_head_fit_text(fit, f'stage {start}' if start else fit['init_from'])} | - | "
                        f"{fit['reencoded_views']} of {fit['reencoded_views'] + 1} views | {fit['lr']:g} cosine | last | "
                        f"{fit['epochs']} epochs | {fit['epochs'] - 1} |")
        else:
            hard = "".join(f"; {part}" for part in _hard_mining_parts(st, long=False))
            if st.get("saturation_fraction"):
                hard += f"; {st['saturation_fraction']:.0%} of images with saturation scaled"
            if st.get("grey_fraction"):
                hard += f"; {st['grey_fraction']:.0%} of images turned grey"
            if st.get("jpeg_fraction"):
                hard += f"; {st['jpeg_fraction']:.0%} of images re-saved whole as JPEG"
            if st.get("chroma_match_fraction"):
                hard += f"; {st['chroma_match_fraction']:.0%} of images chroma-matched"
            if st.get("image_loss_weight"):
                hard += f"; image-score loss x{st['image_loss_weight']:g} added to the cell loss"
            if st.get("distill_from"):
                teacher = stage_of.get(st["distill_from"])
                hard += (f"; cells of crops not re-encoded distilled from {f'stage {teacher}' if teacher else st['distill_from']}"
                         f" x{st['distill_weight']:g}")
            rows.append(f"| {i + 1} | `forensics train --config {st['config']}` | {st['arch']} | {st['augment']}{hard} "
                        f"| {st.get('small_fraction') or 0:.0%} | {st.get('reencode_fraction') or 0:.0%} | {st.get('lr', '-')} "
                        f"| {st['selection']} | {st['epochs_run']} x {st['steps_per_epoch']} | {st['best_epoch']} |")
    return rows


def write_card(card: dict, path: Path) -> None:
    from forensics.data import REENCODE_QUALITY, REENCODE_SCALE, SMALL_SIZES, describe_augment

    role = card.get("role", "default")
    near = card.get("near_threshold")
    L = [f"# Model card: `{card['model']}` ({ROLE_TEXT[role]})", "",
         *(["> The default detector's card is [default_model.md](default_model.md); this one trades some accuracy "
            "for speed (`forensics scan --model fast`, `forensics audit --model fast`).", ""] if role != "default" else []),
         "Every number below is produced by `python benchmarks/default_model_card.py` on held-back validation",
         "files of each training source (file-level split by name hash), at native resolution.", "",
         "## Training data and recipe", "",
         "Retrain with `python benchmarks/prepare_default_data.py`, then each stage's command "
         "below, in order (each resumes if interrupted; each later stage warm-starts from the previous stage's best "
         "weights, copying the tensors that match by name and shape"
         + ("; a `forensics average` stage averages the weights of the stages it names, in a second"
            if any(st.get("command") == "average" for st in card.get("recipe", [])) else "")
         + "); then this script with `--publish"
         + (f" --aggregation {card['score_rule']['name']}" if card.get("aggregation_option") else "")
         + (" --fit-scaling" if card.get("fit_scaling_option") else "")
         + (f" --model-id {card['model_id_option']}" if card.get("model_id_option") else "") + "`.", "",
         "| stage | command | architecture | augmentation | small batches | images re-encoded whole | learning rate | best-epoch criterion | epochs run x steps | best epoch |",
         "|---|---|---|---|---|---|---|---|---|---|",
         *_recipe_rows(card.get("recipe", [])), "",
         "| source | training files |", "|---|---|",
         *[f"| {n} | {c} |" for n, c in (card["training"].get("sources") or {}).items()], "",
         f"Both classes go through one pipeline: random crops of {card['training'].get('size')} px at native "
         "resolution, balanced real/fake batches of "
         f"{card['training'].get('batch_size')} sampled evenly over sources, and "
         + "; then ".join(f"{describe_augment(a)} (stage{'s' if len(ix) > 1 else ''} {', '.join(ix)})"
                          for a, ix in _stages_by_augment(card.get("recipe", [])).items())
         + ". A stage with small batches crops that share of its batches at one side of "
         f"{'/'.join(map(str, SMALL_SIZES))} px instead (half whole-image thumbnails, half native crops), so "
         "thumbnails are trained as they are scanned, without padding"
         + (". A stage with re-encoding first re-saves that share of its images whole (both classes) as JPEG at "
            f"quality {REENCODE_QUALITY[0]}-{REENCODE_QUALITY[1]} and downscales them {REENCODE_SCALE[0]}-"
            f"{REENCODE_SCALE[1]}x (area filter), in random order, as sharing sites re-encode uploads"
            if any(st.get("reencode_fraction") for st in card.get("recipe", [])) else "")
         + (f". A stage with saturation scaling first scales that share of its images' colour saturation by "
            f"{_saturation_range()} (both classes), as a phone's vivid or muted filter does"
            if any(st.get("saturation_fraction") for st in card.get("recipe", [])) else "")
         + (". A stage with an image-score loss adds, to the cross-entropy of every cell, that weight times the "
            "cross-entropy of each crop's image score under the model's score rule, so the cells that rule reads "
            "(for top-k, a real crop's most-fake cells) are trained on the score the model is judged by"
            if any(st.get("image_loss_weight") for st in card.get("recipe", [])) else "")
         + (". A stage with distillation also holds its cells, on the crops it did not re-encode, to a frozen "
            "teacher's: it adds that weight times the KL divergence of each cell's real/fake distribution from the "
            "teacher's (which normalises with the batch's statistics, as the training student does), so what it "
            "learns from re-encoded images does not change what the teacher does on the rest"
            if any(st.get("distill_from") for st in card.get("recipe", [])) else "")
         + ". Bundled-generator samples (32 px; gmm 64 px) and their matched CelebA reals are upsampled to "
         "128 px through the same path.", "",
         "## Architecture", "",
         f"- `{card['arch']}` with input filter `{card['input_filter']}` (timm backbone truncated after an early stage, "
         f"1x1 conv to 2 logits per cell"
         + (f", plus a per-cell MLP head of width {card['head_hidden']} added to those logits"
            if card.get("head_hidden") else "")
         + f"; image score = {card.get('score_rule', {}).get('text', 'mean of per-cell P(fake)')}).",
         (f"- Best epoch: {card['best_epoch']}." if card.get("best_epoch") is not None else
          f"- Weights: {_average_text(card['recipe'][-1]['averaged_from'])}.")
         + f" Threshold {card['threshold']:.4f}: the largest of the per-source "
         f"thresholds that give at most {card['target_fpr']:.0%} false positives on each real source's validation images.", "",
         "## False-positive rate on real validation photos (target <= 1% per source)", "",
         "| real source | n | FPR at shipped threshold | meets target | 95% upper bound on the FPR | FPR at 0.5 |"
         + (" marked near threshold |" if near else ""),
         "|---|---|---|---|---|---|" + ("---|" if near else "")]
    for n, v in card["fpr"].items():
        L.append(f"| {n} | {v['n']} | {v['fpr']:.3f} | {ok(v['fpr'], 0.01, True)} | "
                 + (f"{v['fpr_upper95']:.3f}" if "fpr_upper95" in v else "-") + f" | {v['fpr_at_0.5']:.3f} |"
                 + (f" {near['share'][n]:.3f} |" if near else ""))
    per_t = card.get("per_source_threshold") or {}
    if per_t:
        binding = max(per_t, key=per_t.get)
        L += ["", "Per-source thresholds for at most 1% false positives: "
              + ", ".join(f"{n} {t:.4f}" for n, t in per_t.items())
              + f". The shipped threshold is set by {binding}"
              + (f" (its highest-scoring photo, `{card['highest_real'][binding]['file']}`, scores "
                 f"{card['highest_real'][binding]['score']:.3f})" if card.get("highest_real") else "")
              + "; with fewer than 100 validation images a source allows no false positive at all, so its threshold "
              "sits just above its highest-scoring real photo. Zero false positives in a few dozen photos bounds the "
              "true rate only loosely: the upper-bound column is the highest rate still consistent with what was seen "
              "(one-sided Clopper-Pearson, 95%); only a source with about 300 or more validation photos and none "
              "flagged shows the 1% target with that confidence."]
    L += _unused_real_fpr(card)
    L += _held_out_threshold(card)
    L += _outside_reals(card)
    L += _threshold_profiles(card)
    L += ["", "## Average precision per fake set (vs all real validation images; fake = positive)", "",
          "| fake source | n | AP clean (target 0.99) | AP after JPEG 75 + 0.5x resize of both classes (target 0.95) | TPR at shipped threshold |"
          + (" marked near threshold |" if near else ""),
          "|---|---|---|---|---|" + ("---|" if near else "")]
    for n, v in card["ap"].items():
        L.append(f"| {n} | {v['n']} | {v['clean']:.3f} ({ok(v['clean'], 0.99)}) | {v['jpeg75_resize0.5']:.3f} "
                 f"({ok(v['jpeg75_resize0.5'], 0.95)}) | {card['tpr_at_threshold'][n]:.3f} |"
                 + (f" {near['share'][n]:.3f} |" if near else ""))
    if near:
        L += ["", f"`forensics scan` marks a real verdict \"near threshold\" (a note in JSON records) when its score is "
              f"under the threshold but at or over {near['from']:.4f}, the threshold every real source except "
              f"{near['set_by']} sets on its own: the \"marked near threshold\" columns give the share of each source's "
              "validation images so marked. It changes no verdict and no exit code."]
    L += _ap_by_real(card)
    L += _reencoded_ap_by_real(card)
    L += ["", "## Controls against format and resolution shortcuts", "",
          "Control 1: the same pixels re-encoded as JPEG q90 instead of lossless (both classes):", "",
          "| source | mean abs. score change | verdict flips |", "|---|---|---|"]
    for n, v in card["control_format"].items():
        L.append(f"| {n} | {v['mean_abs_delta']:.3f} | {v['verdict_flips']:.3f} |")
    L += ["", "Control 2: real validation photos downscaled 2x / 4x and re-saved as JPEG q90 (must not be called fake):", "",
          *_control_table(card["control_downscale"])]
    if card.get("control_colour"):
        L += ["", "Control 3 (reported, not an issue target): real validation photos through a vivid (colour saturation "
              "x1.5) or muted (x0.5) filter, as phone cameras and photo apps apply them, re-saved as JPEG q90:", "",
              *_control_table(card["control_colour"])]
    if card.get("control_enlarged"):
        L += ["", "Control 4 (reported, not an issue target; this model only): real validation photos enlarged "
              + " / ".join(f"{f:g}x" for f in ENLARGE_FACTORS) + " (bicubic), as sites, editors and upscalers enlarge "
              "small photos, re-saved as JPEG q90. Enlarging adds interpolation traces like a generator's upsampling:", "",
              *_control_table(card["control_enlarged"])]
    sp = card["images_per_second_cpu"]
    L += ["", f"## Inference cost (this CPU, PyTorch fp32, {sp.get('threads', 2)} threads unless stated; one run)", "",
          "Both networks run as `forensics scan` runs them: channels_last, BatchNorm folded into the "
          "convolutions; the models are timed in 5 interleaved rounds and each keeps its best round.", "",
          f"- this model at 256 px: {sp['this@256']:.1f} images/s; at 1024 px: {sp['this@1024']:.2f} images/s",
          f"- full ResNet-50 at 256 px: {sp['resnet50_full@256']:.1f} images/s",
          f"- ratio this model / ResNet-50 at 256 px: **{sp['ratio_this_vs_resnet50@256']:.1f}x** (target >= 5x: "
          f"{ok(sp['ratio_this_vs_resnet50@256'], 5.0)})",
          *([f"- one thread (e.g. a Ray audit with one actor per core): this model {sp['this@256_1thread']:.1f}, "
             f"ResNet-50 {sp['resnet50_full@256_1thread']:.1f} images/s at 256 px: "
             f"**{sp['ratio_this_vs_resnet50@256_1thread']:.1f}x** (target >= 5x: "
             f"{ok(sp['ratio_this_vs_resnet50@256_1thread'], 5.0)})"] if "this@256_1thread" in sp else []),
          *([f"- compute per 256 px image (conv + linear multiply-accumulates): this model {sp['gmac_this@256']:.2f} GMAC, "
             f"ResNet-50 {sp['gmac_resnet50_full@256']:.2f} GMAC: "
             f"**{sp['gmac_resnet50_full@256'] / sp['gmac_this@256']:.1f}x** less work. Timings on this shared "
             "machine move by tens of percent between runs; the compute ratio does not, so a measured ratio above it is "
             "luck or better use of the cores, not a margin. End-to-end audit throughput (decode + ONNX Runtime): "
             "[performance.md](performance.md)."] if "gmac_this@256" in sp else []),
          *([f"- `{sp.get('compared_model', 'the compared model')}` ({other_text(card, card['compare']) if card.get('compare') else 'compared'}) "
             f"at 256 px in the same run: {sp['compared@256']:.1f} images/s, "
             f"{sp['ratio_compared_vs_resnet50@256']:.1f}x ResNet-50"] if "compared@256" in sp else []), "",
          *_score_rules(card),
          *_calibration(card),
          *_comparison(card, path.parent),
          *_small_images(card),
          "## Failure modes (hardest validation image of each source)", ""]
    for n, kind, wrong, png in card["examples"]:
        L.append(f"- {n}: {'a ' + kind if wrong else 'no ' + kind + ' at the threshold; hardest case shown'}  ")
        L.append(f"  ![{n}]({png})")
    L += _trials(card)
    ablation = path.parent / "default_ablation.md"
    if ablation.is_file():  # the architecture comparison and leave-one-source-out study
        L += ["", "## Why this architecture: comparison and leave-one-source-out", "",
              "From [default_ablation.md](default_ablation.md) (short equal budgets, same validation files). These "
              "variants are trained from scratch for 800 steps; the shipped model's later stages continue earlier "
              "ones for thousands of steps, and the \"Stages tried and not kept\" table above compares such "
              "continuations at full budget (a trial that differs from the last stage in one setting is the "
              "controlled comparison for that setting).", ""]
        L += [line.replace("## ", "### ") for line in ablation.read_text().splitlines()[1:]]
    L += ["", "## What it cannot do (read before trusting a verdict)", "",
          "- It was trained on faces (CelebA, high-resolution faces), ImageNet-style photos and BSD photos vs a few "
          "GAN and latent-diffusion sources; generators and camera pipelines outside these are untested, and the "
          "leave-one-source-out table above is the best guide to how it fares on an unseen generator.",
          _selection_caveat(card.get("recipe", [])),
          *(["- Which stage ships was also decided on these files: the candidates in \"Stages tried and not kept\" "
             "were scored here and the rule above picked among them, one more reason the figures may be a little "
             "optimistic for unseen data."] if card.get("trials") else []),
          *_resolution_caveat(card),
          *([f"- The image score rule ({card['score_rule']['name']}) was also chosen on these files, among the "
             "rules in its table; that it helps nearly every model there, not just the shipped one, is the evidence "
             "that it is not a fit to these files alone."]
            if card.get("score_rule", {}).get("name") not in (None, "mean_prob") else []),
          "- Heavy re-encoding (small JPEGs, strong downscaling) weakens the evidence; the JPEG 75 + 0.5x column "
          "shows by how much. Use `forensics scan --stability` to see whether a verdict survives re-encoding.",
          *_format_caveat(card),
          *_threshold_caveat(card),
          *_enlarged_caveat(card),
          "- A heatmap shows where the patch evidence is strongest, not a \"fake region\"; a real photo can have "
          "hot patches (textures, compression blocks).",
          *_outside_near_caveat(card),
          "- Scores are calibrated for a 1% false-positive rate on the real validation sources above; other "
          "photo populations can have a different false-positive rate: recalibrate with `forensics calibrate`.", ""]
    path.write_text("\n".join(L))


if __name__ == "__main__":
    main()
