"""Regenerate every number in reports/patch_model.md (the default detector's model card), or in
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
import shutil
import sys
from pathlib import Path

import numpy as np

from patch_card.scoring import (REPO, ROLES, card_inputs, condition_scores, model_maps, score_arrays, scores_of,
                                throughputs, val_files, versus)
from patch_card.figures import (accuracy_figures, calibration_figures, enlarged_control, fit_scaling,
                                small_image_figures, unused_real_fpr)
from patch_card.recipe import (carried_trials, _committed_name, compared_card, distillation_fields,
                               hard_mining_fields, recipe_chain, trial_label)
from patch_card.render import write_card


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


if __name__ == "__main__":
    main()
