"""The model card's figures: thresholds per real source and profile, AP per fake set, the format and
resolution controls, calibration, small images and real files that no model was selected on."""
from __future__ import annotations

from typing import Optional

import numpy as np

from patch_card.scoring import all_val_files, _ap, ap_without_top_real, rule_comparison, score_arrays, scores_of


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
    from forensics.training.matched import center_square
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
