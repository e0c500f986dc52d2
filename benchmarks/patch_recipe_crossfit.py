"""Does a patch model trained on the fused recipe's sources catch generator families it never saw?

The native-resolution lever. CLIP sees a 224 px resize; the only branch that sees native pixels is the
shipped patch model v55, trained on the shared sets alone. Here a patch model of the same architecture is
trained on the recipe's sources (from scratch, or `--init-from` the shipped one) with `grouped_cross_fit`'s
design: fake families and real sources are dealt into `--folds` groups (`selection.fold_groups`), fold k
trains without group k and scores group k's images in every condition. Training reads pre-cut crops
(`forensics.training.crops`: native and web-re-encoded 128 px crops per image), so a run on 1024 px images
costs minutes, not hours.

Records, each on the recipe's rows at its own source-balanced threshold:
- `patch v55` and `patch TAG` (`--tag`): each patch model alone;
- `fused v55`: the shipped design (leave-family-out CLIP probe + v55, combiner on v55-unseen sources);
- `fused TAG`: the same CLIP probe fused with the per-fold patch scores (every row unseen).

    python benchmarks/patch_recipe_crossfit.py --config configs/fused/default.json --store runs/features \\
        --out runs/patch_recipe_warm --init-from forensics/weights/patch --lr 2e-4 --tag recipe-crossfit-warm \\
        --json reports/fused/selection_patch_recipe.jsonl

Every phase resumes: crops, fold models (`forensics train` state) and fold scores are kept under --out.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--store", type=Path, required=True, help="the recipe's token store (v55 patch scores too)")
    ap.add_argument("--out", type=Path, required=True, help="crops, fold models and fold scores")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--arch", default="resnet18_layer3_slim")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--init-from", help="warm-start every fold from this detector (e.g. forensics/weights/patch)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--limit", type=int, default=0, help="keep this many images per source (a smoke run)")
    ap.add_argument("--skip-eval", action="store_true", help="train and score the folds only")
    ap.add_argument("--tag", default="recipe-crossfit", help="the per-fold models' name in the records")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.recipe import patch_scores
    from forensics.pretrained.selection import fold_groups
    from forensics.training.crops import CropPlan, write_crops
    from forensics.training.train import TrainConfig, train

    cfg = json.loads(args.config.read_text())
    sources = load_sources(cfg, args.config.parent)
    if args.limit:
        sources = [replace(s, files=s.files[:args.limit]) for s in sources]
    conditions = list(cfg["conditions"])
    eval_only = set(cfg.get("eval_only_sources", []))
    plan = CropPlan()
    t0 = time.time()
    for s in sources:
        if s.name not in eval_only:
            n = write_crops(s.files, args.out / "crops" / s.label_name / s.name, plan, log=print)
            if n:
                print(f"crops {s.name}: {n} images ({time.time() - t0:.0f} s)", flush=True)

    # one entry per image: the fold that holds it out
    family = np.array([s.family for s in sources for _ in s.files])
    name = np.array([s.name for s in sources for _ in s.files])
    label = np.array([s.label for s in sources for _ in s.files])
    group, fam_group = fold_groups(family, name, label, args.folds)
    fold_of = {n: int(g) for n, g in zip(name, group)}
    oof: dict[str, dict[str, float]] = {c: {} for c in conditions}
    for k in range(args.folds):
        train_src = [s for s in sources if s.name not in eval_only and fold_of[s.name] != k]
        held_src = [s for s in sources if fold_of[s.name] == k]
        print(f"fold {k + 1}/{args.folds}: holds out {sorted(f for f, g in fam_group.items() if g == k)} and "
              f"{sorted(s.name for s in held_src if s.label == 0)}", flush=True)
        crops = {lab: [str(args.out / "crops" / lab / s.name) for s in train_src if s.label_name == lab]
                 for lab in ("real", "fake")}
        run = train(TrainConfig(
            real=crops["real"], fake=crops["fake"], out=str(args.out / f"fold{k}" / "model"), arch=args.arch,
            input_filter="residual", val_fraction=0.05, epochs=max(1, args.steps // 250), steps_per_epoch=250,
            batch_size=32, size=64, val_size=128, val_per_source=10, augment="mild", lr=args.lr,
            lr_schedule="cosine", patience=1000, seed=k, device=args.device, workers=1, progress=False,
            model_id=f"patch-recipe-fold{k}", init_from=args.init_from, selection="last", saturation_fraction=0.6,
            aggregation="topk:0.5"))
        got = patch_scores(held_src, str(run), conditions, args.out / f"fold{k}" / "scores", log=lambda _m: None)
        for c in conditions:
            oof[c].update(got[c])
        print(f"fold {k + 1}: trained and scored ({time.time() - t0:.0f} s)", flush=True)
    for c in conditions:
        print(f"{c}: {len(oof[c])} held-out patch scores", flush=True)
    if not args.skip_eval:
        evaluate(args, cfg, sources, oof)


def evaluate(args: argparse.Namespace, cfg: dict, sources: list, oof: dict[str, dict[str, float]]) -> None:
    """The four records of the module docstring, on the recipe's stored rows."""
    from select_token_summaries import emit, family_summary
    from select_training_sets import training_keys

    from forensics.pretrained.calibration import balanced_threshold
    from forensics.pretrained.combiner import patch_logit
    from forensics.pretrained.recipe import CLEAN, ProbeKind, _figures, fuse, load_tokens, patch_scores
    from forensics.pretrained.selection import cross_fit, held_out_crossfit, restricted

    conditions = list(cfg["conditions"])
    section = cfg["clip"]
    blocks = tuple(int(b) for b in section.get("token_blocks", section["features"]["mean_blocks"]))
    rows, tokens = load_tokens(sources, blocks, section["features"].get("view", "resize224"), conditions, args.store,
                               str(section.get("precision", "int8")))
    shipped = patch_scores(sources, cfg["patch_model"], conditions, args.store)
    patch = {"v55": np.array([shipped[c].get(k, np.nan) for k, c in zip(rows.keys, rows.condition)]),
             args.tag: np.array([oof[c].get(k, np.nan) for k, c in zip(rows.keys, rows.condition)])}
    for name, p in patch.items():
        keep = np.isfinite(p)
        sub = rows.subset(keep)
        logit = patch_logit(p[keep])
        clean_real = (sub.label == 0) & (sub.condition == CLEAN)
        thr = balanced_threshold(logit[clean_real], sub.source[clean_real], float(cfg.get("target_fpr", 0.01)),
                                 per_source_cap=cfg.get("per_source_fpr_cap"))
        fam = _figures(held_out_crossfit(sub, logit), thr, cfg.get("degraded_condition"))["families"]
        emit({"variant": f"patch {name}", "rows": int(keep.sum()), **family_summary(fam, thr)}, args.json)
    allowed = np.isin(rows.keys, sorted(training_keys(args.config)))
    kind = ProbeKind(section, blocks)
    cf = cross_fit(rows, restricted(kind.fitter(tokens), allowed), n_groups=int(cfg.get("real_groups", 3)))
    every_source = sorted(set(rows.source))
    for name, p in patch.items():
        fuse_cfg = cfg if name == "v55" else {**cfg, "patch_unseen_sources": every_source}
        combiner, fused, thr = fuse(cf, p, fuse_cfg, allowed, log=lambda _m: None)
        fam = _figures(fused, thr, cfg.get("degraded_condition"))["families"]
        emit({"variant": f"fused {name}", "combiner": combiner.to_dict(), **family_summary(fam, thr)}, args.json)


if __name__ == "__main__":
    main()
