"""The model card's recipe and trials: the training stages behind a run (with the configs that remake
them), earlier cards' trials carried over, and the rule that decides whether a trial replaces the
shipped model."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import numpy as np

from patch_card.scoring import REPO, interval_text


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
    from forensics.training.data import SATURATION_RANGE

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
