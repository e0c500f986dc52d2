"""The model card's Markdown: `write_card` and one function per section."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from patch_card.scoring import GRAPHICS_GROUP, LFW_GROUP, ROLE_TEXT, other_text
from patch_card.figures import ENLARGE_FACTORS
from patch_card.recipe import (_average_text, _recipe_rows, _saturation_range, _selection_caveat, _trials,
                               worst_control_fpr)


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


def write_card(card: dict, path: Path) -> None:
    from forensics.training.data import REENCODE_QUALITY, REENCODE_SCALE, SMALL_SIZES, describe_augment

    role = card.get("role", "default")
    near = card.get("near_threshold")
    L = [f"# Model card: `{card['model']}` ({ROLE_TEXT[role]})", "",
         *(["> The default detector's card is [patch_model.md](patch_model.md); this one trades some accuracy "
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
