"""Fused leave-family-out figures of other recipes' training sets, all scored on one recipe's rows: the
whole `forensics train-fused` machinery (cross-fitted CLIP probe, combiner on patch-unseen sources,
source-balanced threshold), with training restricted to each `--train` recipe's images (less its
evaluation-only sources). Compares a new default with the old one on the same, richer evaluation set.
Families are left out together as the scored recipe's `fake_family_lineage` says.
`--patch` fuses each trained probe with each of several patch models (the CLIP cross-fit, the slow part, is
shared); without it the recipe's own `patch_model` is used. `NAME=MODEL1+MODEL2` fuses an ensemble: the
sigmoid of the models' mean patch logit.

    python benchmarks/fused_same_rows.py --config configs/fused/default.json --store runs/features \\
        --train v2=configs/fused/v2.json v3=configs/fused/default.json --json reports/fused/fused_same_rows.jsonl
    python benchmarks/fused_same_rows.py --config configs/fused/v11.json --store runs/features \\
        --train v5=configs/fused/default.json v11=configs/fused/v11.json --patch v55=patch v10=runs/patch-taef2-seen
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def ensemble(scores: list[np.ndarray]) -> np.ndarray:
    """P(fake) of several patch models' scores of the same rows: the sigmoid of their mean logit."""
    from forensics.pretrained.combiner import patch_logit, sigmoid

    return scores[0] if len(scores) == 1 else sigmoid(np.mean([patch_logit(s) for s in scores], axis=0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True, help="the recipe whose rows are scored")
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--train", nargs="+", required=True, help="NAME=CONFIG: train on CONFIG's images")
    ap.add_argument("--patch", nargs="+", default=[], help="NAME=MODEL: patch models to fuse with (default: the "
                                                          "recipe's patch_model); MODEL1+MODEL2 averages their logits")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from select_token_summaries import emit, family_summary
    from select_training_sets import training_keys

    from forensics.pretrained.dataset import DataConfigError
    from forensics.pretrained.recipe import (ProbeKind, _figures, check_content_names, crossfit_grouping, fuse,
                                             patch_scores, restricted, stored_rows)
    from forensics.pretrained.selection import cross_fit

    def on_disk(config: Path, load):
        """`load()`, or one line naming `config` and its sources missing on disk: a comparison on whatever rows
        happen to be present would silently differ from the recipes it names."""
        try:
            return load()
        except DataConfigError as e:
            sys.exit(f"error: {config}: {e} (build them with python data_sources/build.py --only NAME,...)")

    # the training recipes first: stored_rows's token load is the slow part
    trains = [(name, Path(config)) for name, config in (spec.split("=", 1) for spec in args.train)]
    keys = {name: on_disk(config, lambda config=config: training_keys(config)) for name, config in trains}
    cfg = json.loads(args.config.read_text())
    sources, blocks, rows, tokens = on_disk(args.config, lambda: stored_rows(cfg, args.config.parent, args.store,
                                                                           require=True))
    conditions, section = list(cfg["conditions"]), cfg["clip"]
    patches = {}
    for spec in args.patch or [f"{cfg['patch_model']}={cfg['patch_model']}"]:
        patch_name, model = spec.split("=", 1)
        per_model = []
        for one in model.split("+"):
            scores = patch_scores(sources, one, conditions, args.store)
            per_model.append(np.array([scores[c].get(k, np.nan) for k, c in zip(rows.keys, rows.condition)]))
        patches[patch_name] = (model, ensemble(per_model))
    grouping = crossfit_grouping(cfg)  # how the scored recipe holds data out, the same for every trained set
    for name, config in trains:
        allowed = np.isin(rows.keys, sorted(keys[name]))
        # the training recipe's probe settings (e.g. content-balanced weights), on the scored rows' tokens
        train_recipe = json.loads(Path(config).read_text())
        check_content_names(train_recipe)
        kind = ProbeKind({**section, "balance_content": train_recipe["clip"].get("balance_content")}, blocks, sources)
        cf = cross_fit(rows, restricted(kind.fitter(tokens), allowed), **grouping)
        # the patch-unseen sources of the recipe being imitated decide which rows fit its combiner
        train_cfg = {**cfg, "patch_unseen_sources": train_recipe.get("patch_unseen_sources", [])}
        for patch_name, (model, patch) in patches.items():
            combiner, fused, thr = fuse(cf, patch, train_cfg, allowed, log=lambda _msg: None)
            figures = _figures(fused, thr, cfg.get("degraded_condition"))
            rec = {"train": name, "train_config": str(config), "scored_config": str(args.config),
                   **({"lineage": cfg["fake_family_lineage"]} if cfg.get("fake_family_lineage") else {}),
                   **({"real_group_dealings": grouping["dealings"]} if grouping["dealings"] > 1 else {}),
                   **({"patch": patch_name, "patch_model": model} if args.patch else {}),
                   "combiner": combiner.to_dict(), **family_summary(figures["families"], thr),
                   # the real sources whose photos sit at or over the threshold: the ones that set it
                   "real_fp": {r["source"]: f'{r["fp_clean"]}/{r["n_clean"]}' for r in figures["reals"] if r["fp_clean"]}}
            emit(rec, args.json)


if __name__ == "__main__":
    main()
