"""The fused default's model card (reports/default_model.md) from its recipe's cross-fitted figures.

    python benchmarks/fused_card.py --model forensics/weights/fused --out reports/default_model.md \
        [--speed reports/fused_speed.json] [--scores reports/fused/crossfit_scores.npz]

Every figure is leave-family-out (each fake family scored by probes fitted without it) and leave-real-
source-out (each real photo scored by probes fitted without its source group), at the shipped threshold.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

TARGET_AP_CLEAN, TARGET_AP_DEGRADED, TARGET_FLAGGED, TARGET_FPR = 0.90, 0.80, 0.5, 0.01


def _f(v: Any, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _pct(v: Any) -> str:
    return "-" if v is None else f"{v:.0%}"


def patch_saw(recipe: dict[str, Any]) -> dict[str, str]:
    """family -> whether the patch branch trained on it: no / partly / yes."""
    unseen = set(recipe.get("patch_unseen_sources", []))
    by_fam: dict[str, list[bool]] = {}
    for s in recipe["sources"]:
        if s["label"] == "fake":
            by_fam.setdefault(s["family"], []).append(s["name"] not in unseen)
    return {f: ("yes" if all(v) else "partly" if any(v) else "no") for f, v in by_fam.items()}


def family_rows(fig: dict[str, Any], n_by_family: dict[str, int], saw: dict[str, str]) -> list[str]:
    out = ["| family (left out) | images | AP clean | AP JPEG 75 + 0.5x | flagged clean | flagged re-encoded | meets targets | patch model trained on it |",
           "|---|---|---|---|---|---|---|---|"]
    for r in sorted(fig["families"], key=lambda r: r["ap_clean"]):
        ok = (r["ap_clean"] >= TARGET_AP_CLEAN and r.get("ap_degraded", 1) >= TARGET_AP_DEGRADED
              and r["flagged_clean"] >= TARGET_FLAGGED)
        out.append(f"| {r['family']} | {n_by_family.get(r['family'], r.get('n_clean'))} | {_f(r['ap_clean'])} | "
                   f"{_f(r.get('ap_degraded'))} | {r['flagged_clean']:.0%} | "
                   f"{'-' if r.get('flagged_degraded') is None else format(r['flagged_degraded'], '.0%')} | "
                   f"{'yes' if ok else 'no'} | {saw.get(r['family'], '?')} |")
    return out


def real_rows(fig: dict[str, Any], degraded: str) -> list[str]:
    out = ["| real source | kind | photos | false positives | FPR | FPR 95% upper bound | FPR re-encoded |",
           "|---|---|---|---|---|---|---|"]
    for r in sorted(fig["reals"], key=lambda r: -r["fpr_clean"]):
        deg = r.get(f"fpr_{degraded}")
        out.append(f"| {r['source']} | {r['kind']} | {r['n_clean']} | {r['fp_clean']} | {r['fpr_clean']:.1%} | "
                   f"{r['fpr_upper_clean']:.1%} | {'-' if deg is None else format(deg, '.1%')} |")
    return out


def source_rows(scores_path: Path, threshold: float, degraded: str) -> list[str]:
    """One row per fake source, from the recipe's cross-fitted fused logits: a family's figure can hide a
    source that fails (FLUX portraits among FLUX art studies). Each fake is scored by probes fitted without
    its whole family, each real photo by probes fitted without its source; AP against all held-out reals."""
    import numpy as np

    from forensics.pretrained.combiner import patch_logit
    from forensics.pretrained.report_figures import family_table
    from forensics.pretrained.selection import CrossFit, Rows

    z = np.load(scores_path)
    rows = Rows(np.arange(len(z["label"]))[:, None], z["keys"], z["label"], z["source"], z["source"], z["condition"])
    logit = z["fused_logit"]
    cf = CrossFit(rows=rows)
    real = np.where(rows.label == 0, logit, np.nan)
    family_of = {}
    for src in sorted(set(rows.source[rows.label == 1])):
        m = (rows.label == 1) & (rows.source == src)
        cf.fake_logit[src] = np.where(m, logit, np.nan)
        cf.real_logit_without[src] = real
        family_of[src] = str(z["family"][m][0])
    thr_logit = float(patch_logit(threshold))
    out = ["| fake source | family | images | AP clean | AP JPEG 75 + 0.5x | flagged clean | flagged re-encoded |",
           "|---|---|---|---|---|---|---|"]
    for r in sorted(family_table(cf, thr_logit, degraded=degraded or None), key=lambda r: r["ap_clean"]):
        out.append(f"| {r['family']} | {family_of[r['family']]} | {r['n_clean']} | {_f(r['ap_clean'])} | "
                   f"{_f(r.get('ap_degraded'))} | {r['flagged_clean']:.0%} | "
                   f"{'-' if r.get('flagged_degraded') is None else format(r['flagged_degraded'], '.0%')} |")
    return out


def plain_words(fused: dict[str, Any], unseen: dict[str, Any], recipe: dict[str, Any]) -> list[str]:
    """The card's plain summary: per family and per kind of real photo, does the default work."""
    saw = patch_saw(recipe)
    works = [r["family"] for r in fused["families"] if r["ap_clean"] >= TARGET_AP_CLEAN and r["flagged_clean"] >= TARGET_FLAGGED]
    trained = [f for f in works if saw.get(f) == "yes"]
    weak = sorted((r for r in fused["families"] if r["family"] not in works), key=lambda r: r["ap_clean"])
    kinds: dict[str, list[dict[str, Any]]] = {}
    for r in fused["reals"]:
        kinds.setdefault(r["kind"], []).append(r)
    lines = [
        f"- **Works** (AP >= {TARGET_AP_CLEAN} and at least half flagged, family left out of the CLIP probe): "
        + (", ".join(works) or "none") + "."
        + (f" All of these ({', '.join(trained)}) are families the patch model trained on: its knowledge, not "
           "generalisation, carries them." if trained and len(trained) == len(works) else ""),
        "- **Does not work** on generators the CLIP probe never saw and the patch model saw little or nothing of: "
        + "; ".join(f"{r['family']} (AP {r['ap_clean']:.2f}, {r['flagged_clean']:.0%} flagged)" for r in weak)
        + ". Their scores rank above most real photos (AP well above chance) but sit under the threshold: a "
        "`real` or `uncertain` verdict on such an image is no evidence that it is a photograph.",
        "- **After re-encoding** (JPEG 75 + 0.5x) even the families it knows lose most of their flags "
        "(see the re-encoded column).",
        "- **Real photos**: " + "; ".join(
            f"{k} {sum(r['fp_clean'] for r in v)}/{sum(r['n_clean'] for r in v)} flagged" for k, v in sorted(kinds.items()))
        + " (each source scored by probes that never saw it).",
    ]
    return lines


def unseen_rows(unseen: dict[str, Any]) -> list[str]:
    names = {"fused": "fused default", "clip": "CLIP branch alone", "patch": "patch branch alone"}
    fams = sorted({r["family"] for r in unseen["fused"]["families"]})
    out = ["| detector | threshold | " + " | ".join(f"{f} AP / AP re-enc / flagged" for f in fams) + " | worst AP |",
           "|---|---|" + "---|" * len(fams) + "---|"]
    for key in ("fused", "clip", "patch"):
        by = {r["family"]: r for r in unseen[key]["families"]}
        cells = [f"{by[f]['ap_clean']:.3f} / {_f(by[f].get('ap_degraded'))} / {by[f]['flagged_clean']:.0%}" for f in fams]
        out.append(f"| {names[key]} | {unseen[key]['threshold']:.4f} | " + " | ".join(cells)
                   + f" | {min(r['ap_clean'] for r in unseen[key]['families']):.3f} |")
    return out


def seen_words(seen: dict[str, Any]) -> list[str]:
    """One plain bullet on new images of the families the model trained on."""
    fams = sorted(seen["families"], key=lambda r: r["flagged_clean"])
    low = [r for r in fams if r["flagged_clean"] < TARGET_FLAGGED]
    return [f"- **New images of generators it trained on**: {len(fams) - len(low)} of {len(fams)} families have at least "
            "half flagged, the rest rank above most photos of the kinds it trained on but stay under the threshold: "
            + ", ".join(f"{r['family']} {r['flagged_clean']:.0%} (AP {r['ap_clean']:.2f})" for r in low)
            + ". Having trained on a generator does not make its new images clear the threshold, which real photos of "
            "kinds it never saw set (table below)."] if low else [
        f"- **New images of generators it trained on**: all {len(fams)} families have at least half flagged."]


def seen_rows(seen: dict[str, Any]) -> list[str]:
    """The card's table of new images of the families the model trained on, at the shipped threshold."""
    fams = sorted(seen["families"], key=lambda r: -r["flagged_clean"])
    half = [r["family"] for r in fams if r["flagged_clean"] >= TARGET_FLAGGED]
    fp = sum(r["fp_clean"] for r in seen["reals"])
    n = sum(r["n_clean"] for r in seen["reals"])
    return [
        f"Each image is scored by a probe fitted on every family and source but not on that image ({seen['folds']} "
        "folds of images); the photos are held-out files of the trained real sources. The threshold is the shipped "
        f"one, set on sources never seen. {len(half)} of {len(fams)} families have at least half their new images "
        f"flagged; {fp} of {n} held-out photos of trained sources are flagged.",
        "",
        "| family (trained on) | images | AP clean | AP JPEG 75 + 0.5x | flagged clean | flagged re-encoded |",
        "|---|---|---|---|---|---|",
        *[f"| {r['family']} | {r.get('n_clean', 0)} | {r['ap_clean']:.3f} | {_f(r.get('ap_degraded'))} | "
          f"{r['flagged_clean']:.0%} | {_pct(r.get('flagged_degraded'))} |"
          for r in fams],
    ]


def summary_rows(figures: dict[str, Any]) -> list[str]:
    out = ["| detector | threshold | worst family AP clean | worst AP re-encoded | worst family flagged | mean AP clean | real FPR (source mean) |",
           "|---|---|---|---|---|---|---|"]
    names = {"fused": "fused default (patch + CLIP probe)", "clip": "CLIP branch alone", "patch": "patch branch alone"}
    for key in ("fused", "clip", "patch"):
        fig = figures.get(key)
        if not fig:
            continue
        fam = fig["families"]
        worst = min(fam, key=lambda r: r["ap_clean"])
        worst_flag = min(fam, key=lambda r: r["flagged_clean"])
        worst_deg = min(fam, key=lambda r: r.get("ap_degraded", 1.0))
        mean_ap = sum(r["ap_clean"] for r in fam) / len(fam)
        fpr = sum(r["fpr_clean"] for r in fig["reals"]) / len(fig["reals"])
        out.append(f"| {names[key]} | {fig['threshold']:.4f} | {worst['ap_clean']:.3f} ({worst['family']}) | "
                   f"{_f(worst_deg.get('ap_degraded'))} ({worst_deg['family']}) | {worst_flag['flagged_clean']:.0%} "
                   f"({worst_flag['family']}) | {mean_ap:.3f} | {fpr:.1%} |")
    return out


def patch_description(ref: str) -> str:
    """One phrase for the patch branch: its model id, architecture, and the models it averages if it is a soup."""
    from forensics.checkpoint import read_config
    from forensics.detector import resolve_model_dir

    cfg = read_config(resolve_model_dir(ref))
    text = f"{cfg.get('model_id', ref)}, `{cfg.get('arch', '?')}` on a residual input"
    parts = cfg.get("averaged_from") or []
    if parts:
        text += (f", the weight average of {len(parts)} models fine-tuned from one another: "
                 + "; ".join(p.get("note", p["model"]) for p in parts))
    return text


def evaluation_only_line(recipe: dict) -> list[str]:
    """The card line naming the sources the model was scored on but never trained on (if any)."""
    only = [src for src in recipe["sources"] if src.get("evaluation_only")]
    if not only:
        return []
    fakes = sum(src["n"] for src in only if src["label"] == "fake")
    reals = sum(src["n"] for src in only if src["label"] == "real")
    return [f"- **Evaluation only**: {len(only)} sources ({fakes} fakes, {reals} real photos: "
            f"{', '.join(src['name'] for src in only)}) are scored in every table below but never trained on, "
            "neither by the cross-fitted probes nor by the shipped one (`eval_only_sources` of the recipe)."]


def dealing_spread_line(calibration: dict) -> list[str]:
    """One bullet: the sources a single dealing's probes flag more of than the threshold's allowance."""
    worst = calibration.get("worst_dealing_fpr_per_source") or {}
    if not worst:
        return []
    items = sorted(worst.items(), key=lambda kv: -kv[1])
    return ["- **One probe, not the mean**: the threshold holds for the real photos' scores under every dealing taken "
            "together; under the single dealing that is worst for each source, " + ", ".join(f"{s} {v:.1%}" if v < 0.1 else f"{s} {v:.0%}" for s, v in items)
            + " of its photos score above it."]


def dealings_line(recipe: dict) -> list[str]:
    """The card line saying over how many dealings of the real sources into held-out groups every cross-fitted
    figure is averaged (`real_group_dealings` of the recipe), if more than one."""
    dealings = int(recipe.get("real_group_dealings", 1))
    if dealings <= 1:
        return []
    return [f"- **Averaged over {dealings} dealings**: the real sources are dealt into {recipe.get('real_groups', 3)} "
            f"held-out groups {dealings} different ways and every cross-fitted score is the mean over them "
            "(`real_group_dealings` of the recipe), so no figure hangs on which sources happened to share a group."]


def lineage_line(recipe: dict) -> list[str]:
    """The card line naming the families left out of training together because one is built on another's
    architecture (`fake_family_lineage` of the recipe), if any."""
    lineage = recipe.get("fake_family_lineage") or {}
    if not lineage:
        return []
    groups = "; ".join(f"{', '.join(fams)} with {line}" for line, fams in sorted(lineage.items()))
    return [f"- **Left out together**: families built on another's generator are left out of training with it and "
            f"scored as themselves ({groups}; `fake_family_lineage` of the recipe), so no family is scored by a probe "
            "that trained on its architecture's other samples."]


def kind_line(cfg: dict[str, Any]) -> list[str]:
    """The "What it is" bullet of the kinds of picture judged on their own (forensics.pretrained.kinds): their own
    threshold, their own expert probe, or both."""
    kinds = cfg.get("kinds") or []
    if not kinds:
        return []
    return ["- **Kinds of picture judged on their own**: " + "; ".join(_kind_clause(k) for k in kinds)
            + ". The record names the kind (`branches.clip.kind`) and keeps every branch's score."]


def _kind_clause(k: dict[str, Any]) -> str:
    expert = k.get("expert")
    trained_on = (f"trained on the real and generated images of {', '.join(k['members'])} (families or sources)"
                  if expert else f"trained on the real sources of {', '.join(k['members'])} (families or sources)")
    text = (f"an image that the `{k['name']}` kind probe (a linear probe on the same CLIP features, {trained_on} "
            "against every other image) recognises")
    if expert:
        text += (f" has its CLIP logit moved {expert['weight']:.0%} of the way to the `{k['name']}` expert's (a verdict "
                 f"probe fitted on those images only, L2 {expert['l2']}) before the combiner")
    if k["offset"]:
        text += (f"{' and' if expert else ''} gets {k['offset']:+.3f} on its fused logit, so the one threshold means "
                 f"P(fake) >= {k['threshold_alone']} on its unshifted fused score, the threshold calibrated on held-out "
                 f"photos of that kind alone (other photos alone: {k['general_threshold_alone']})")
    else:
        text += (f"{',' if expert else ''} keeps the one threshold (held-out photos of that kind alone would set "
                 f"P(fake) >= {k['threshold_alone']}, the other photos {k['general_threshold_alone']}; a kind's offset "
                 "never raises its scores)")
    return text


def kind_rows(figures: dict[str, Any]) -> list[str]:
    """How the cross-fitted kind probes route held-out photos and left-out fakes, and the figures without kinds."""
    kinds = figures.get("kinds")
    if not kinds:
        return []
    out = ["## Kinds of picture judged on their own",
           "Each held-out real source is routed by kind probes that never saw it, each left-out family by kind probes "
           "fitted without it, so these counts include the routing's mistakes.",
           "",
           "| kind | member sources: share of held-out photos recognised | other held-out photos recognised | "
           "left-out fakes recognised |",
           "|---|---|---|---|"]
    for name, r in kinds["routing"].items():
        members = ", ".join(f"{s} {v:.0%}" for s, v in r["member_sources_routed"].items())
        others = ", ".join(f"{s} {n}" for s, n in r["other_sources_routed"].items())
        fakes = ", ".join(f"{f} {v}" for f, v in r["left_out_fakes_routed"].items()) or "none"
        out.append(f"| {name} | {members} | {r['other_photos_routed']}/{r['other_photos']}"
                   f"{f' ({others})' if others else ''} | {fakes} |")
    without = kinds["fused_without_kinds"]
    fam = without["families"]
    out += ["", f"Without the kinds (one probe and one threshold for every picture) the same cross-fit's threshold is "
                f"{without['threshold']:.4f}: {sum(r['flagged_clean'] >= TARGET_FLAGGED for r in fam)} families at least "
                f"half flagged, {sum(r['flagged_clean'] > 0 for r in fam)} with any flagged, "
                f"{sum(r['flagged_clean'] for r in fam) / len(fam):.1%} flagged on average, worst AP "
                f"{min(r['ap_clean'] for r in fam):.3f}.", ""]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=REPO / "forensics" / "weights" / "fused")
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "default_model.md")
    ap.add_argument("--speed", type=Path, default=None, help="speed figures (benchmarks/fused_speed.py --json)")
    ap.add_argument("--scores", type=Path, default=None,
                    help="the recipe's cross-fitted scores (default: crossfit_scores.npz beside the model, which "
                         "train-fused writes; for the shipped weights, reports/fused/crossfit_scores.npz)")
    args = ap.parse_args()

    if args.scores is None:
        shipped = args.model.resolve() == (REPO / "forensics" / "weights" / "fused").resolve()
        args.scores = REPO / "reports" / "fused" / "crossfit_scores.npz" if shipped else args.model / "crossfit_scores.npz"
    cfg = json.loads((args.model / "config.json").read_text())
    figures = json.loads((args.model / "figures.json").read_text())
    recipe = cfg["training"]
    degraded = next((c for c in recipe["conditions"] if c != "clean"), "")
    n_by_family: dict[str, int] = {}
    for s in recipe["sources"]:
        if s["label"] == "fake":
            n_by_family[s["family"]] = n_by_family.get(s["family"], 0) + s["n"]
    fused = figures["fused"]
    worst = min(fused["families"], key=lambda r: r["ap_clean"])
    feats = cfg["clip"]["features"]
    lines = [
        f"# Model card: {cfg['model_id']} (the shipped default)",
        "",
        "Generated by `benchmarks/fused_card.py` from the recipe's cross-fitted figures "
        f"(`{args.model.relative_to(REPO) if args.model.is_relative_to(REPO) else args.model}/figures.json`). "
        "Reproduce with:",
        "",
        "```",
        "python data_sources/build.py                                   # the extra image sets (pinned origins)",
        "python benchmarks/prepare_default_data.py --out ../data/bundled --n 300",
        "forensics fetch-clip",
        f"# the patch branch ({cfg['patch_model']}) ships in the package; how it was made: its config.json",
        f"forensics train-fused --config {recipe['recipe']} --out forensics/weights/fused --store runs/features",
        "python benchmarks/fused_card.py",
        "```",
        "",
        "## What it is",
        f"- **Patch branch**: `{cfg['patch_model']}` ({patch_description(cfg['patch_model'])}; it gives the "
        "heatmap and the patch score).",
        f"- **Pretrained branch**: OpenAI CLIP ViT-B/16 image tower (INT8 ONNX, sha256 `{cfg['clip']['encoder_sha256'][:16]}...`"
        + (", its quantised matrix products rewritten in float32 at load time" if cfg["clip"].get("precision") == "float32"
           else "") + "), "
        f"graph cut after block {max(feats['mean_blocks'] + feats['cls_blocks'])}; features: mean of patch tokens of blocks "
        f"{', '.join(map(str, feats['mean_blocks']))}"
        + (f" and the CLS token of blocks {', '.join(map(str, feats['cls_blocks']))}" if feats["cls_blocks"] else "")
        + f", view `{feats['view']}` (shorter side resized to 224, centre crop); a linear probe (L2 {cfg['clip']['l2']}).",
        f"- **Combiner**: fused logit = {cfg['combiner']['w_clip']:.3f} x CLIP logit + {cfg['combiner']['w_patch']:.3f} x "
        f"patch logit + {cfg['combiner']['bias']:.3f}, fitted on cross-fitted scores of fake families and real sources "
        "the patch model never trained on.",
        f"- **Verdicts**: `fake` at P(fake) >= {cfg['threshold']}; `real` below {cfg['real_below']} (at most "
        "10% of left-out fakes fall there); `uncertain` in between. A file that declares it was generated "
        "(C2PA, generator parameters, IPTC) is `fake` whatever its pixel score.",
        f"- **Threshold**: {cfg['calibration']['rule']}, target {cfg['calibration']['target_fpr']:.0%}, on "
        f"{cfg['calibration']['n_real']} real photos of {cfg['calibration']['n_sources']} sources, each scored by a "
        "probe that never saw its source"
        + (f" (nor any other source sampled from the same dataset: {len(origins)} such origins, "
           f"{', '.join(sorted(origins))}, are held out whole)" if (origins := recipe.get("real_source_origins")) else "")
        + ".",
        *kind_line(cfg),
        *evaluation_only_line(recipe),
        *lineage_line(recipe),
        *dealings_line(recipe),
        *dealing_spread_line(cfg["calibration"]),
        "",
        "## Where it works and where it does not",
        *plain_words(fused, figures["unseen_by_patch"]["fused"], recipe),
        *(seen_words(figures["seen_families"]) if figures.get("seen_families") else []),
        "",
        "## Headline (leave-family-out, at each detector's own threshold)",
        "",
        *summary_rows(figures),
        "",
        f"Worst left-out family of the fused default: **{worst['family']}** (AP {worst['ap_clean']:.3f} clean, "
        f"{_f(worst.get('ap_degraded'))} re-encoded, {worst['flagged_clean']:.0%} flagged).",
        "The patch model alone was trained on the shared face, diffusion and bundled sets, so its figures on those "
        "families are not leave-family-out; on the families it never saw (marked `no` in the last column of the "
        "per-family table below) they are.",
        "",
        *kind_rows(figures),
        "## Where no branch has seen the generator or the photos",
        "Only the fake and real sources the patch model never trained on "
        f"({', '.join(figures['unseen_by_patch']['sources'])}); each detector at its own threshold. This is the one "
        "comparison in which neither branch has seen a family it is scored on.",
        "",
        *unseen_rows(figures["unseen_by_patch"]),
        "",
        "## Per left-out generator family (fused default)",
        f"Targets: AP >= {TARGET_AP_CLEAN} clean and >= {TARGET_AP_DEGRADED} after JPEG 75 + 0.5x, at least "
        f"{TARGET_FLAGGED:.0%} flagged at the shipped threshold.",
        "",
        *family_rows(fused, n_by_family, patch_saw(recipe)),
        "",
        *(["## Per fake source (fused default, its family left out)",
           "A family's figure can hide a source that fails: each source of each family, against every held-out "
           f"real photo, from `{args.scores.name}`.",
           "",
           *source_rows(args.scores, float(cfg["threshold"]), degraded),
           ""] if args.scores.exists() else []),
        *(["## New images of generators it trained on (fused default)",
           *seen_rows(figures["seen_families"]),
           ""] if figures.get("seen_families") else []),
        "## Per left-out generator family (CLIP branch alone)",
        "The CLIP branch's own logit at its own threshold: the probe's, with each kind's expert blended in as the scan "
        "does (`kinds` of the model config), before the combiner adds the patch score.",
        "",
        *family_rows(figures["clip"], n_by_family, patch_saw(recipe)),
        "",
        "## Real photos: false positives at the shipped threshold (held-out sources)",
        f"Target: at most {TARGET_FPR:.0%} on every source. The upper bound is one-sided Clopper-Pearson at 95%.",
        "",
        *real_rows(fused, degraded),
        "",
        "## Training data",
        "| source | label | family | images | origin |",
        "|---|---|---|---|---|",
        *[f"| {s['name']} | {s['label']} | {s['family']} | {s['n']} | {s['origin'] or 'see data_sources/origins.json'} |"
          for s in recipe["sources"]],
        "",
    ]
    if args.speed and args.speed.exists():
        speed = json.loads(args.speed.read_text())
        lines += ["## Speed", "", speed.get("markdown", ""), ""]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
