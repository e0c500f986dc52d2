"""Which images to train the CLIP probe on, judged on the same rows: leave-family-out figures of the CLIP
probe alone (mean patch token of the given blocks, `resize224`, L2 0.001) scored on every row of one recipe
(`--config`), each time trained only on the images of another recipe (`--train NAME=CONFIG`, less its
evaluation-only sources). Every variant is scored on the same families and the same held-out real sources,
at its own source-balanced 1% threshold, so a richer evaluation set cannot make a training set look worse.

    python benchmarks/select_training_sets.py --config configs/fused/default.json --store runs/features \\
        --train v2=configs/fused/v2.json v3=configs/fused/default.json --json reports/fused/selection_data_v3.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def training_keys(config: Path) -> set[str]:
    """Image keys a recipe trains on (its sources less its evaluation-only ones). Every source must be on disk
    (DataConfigError otherwise): a comparison must not train on a silently smaller set than the recipe names."""
    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.recipe import image_key

    cfg = json.loads(config.read_text())
    held = set(cfg.get("eval_only_sources", []))
    return {image_key(s, f) for s in load_sources(cfg, config.parent, require=True) if s.name not in held for f in s.files}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True, help="the recipe whose rows are scored")
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--train", nargs="+", required=True, help="NAME=CONFIG: train on CONFIG's images")
    ap.add_argument("--blocks", default="4,5,6",
                    help="stored CLIP blocks, e.g. 4,5,6; join token stores with +, e.g. 1,2,3+4,5,6 (means concatenated)")
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from select_token_summaries import emit, family_summary, probe_fitter

    from forensics.pretrained.calibration import balanced_threshold
    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.recipe import CLEAN, _figures, load_tokens, token_means
    from forensics.pretrained.selection import cross_fit, restricted

    cfg = json.loads(args.config.read_text())
    sources = load_sources(cfg, args.config.parent)
    rows, parts = None, []
    for group in args.blocks.split("+"):
        stored = tuple(int(b) for b in group.split(","))
        got, tokens = load_tokens(sources, stored, "resize224", list(cfg["conditions"]), args.store, "float32")
        if rows is not None and not (np.array_equal(got.keys, rows.keys) and np.array_equal(got.condition, rows.condition)):
            raise SystemExit(f"token stores of blocks {group} and the others hold different images")
        rows = got
        parts.append(token_means(tokens))
        del tokens
    blocks = tuple(int(b) for g in args.blocks.split("+") for b in g.split(","))
    mean = np.concatenate(parts, axis=1)
    clean_real = (rows.label == 0) & (rows.condition == CLEAN)
    for spec in args.train:
        name, config = spec.split("=", 1)
        allowed = np.isin(rows.keys, sorted(training_keys(Path(config))))
        t0 = time.time()
        cf = cross_fit(rows, restricted(probe_fitter(mean, args.l2), allowed), n_groups=int(cfg.get("real_groups", 3)))
        thr = balanced_threshold(cf.real_logit[clean_real], rows.source[clean_real], float(cfg.get("target_fpr", 0.01)),
                                 per_source_cap=cfg.get("per_source_fpr_cap"))
        fam = _figures(cf, thr, cfg.get("degraded_condition"))["families"]
        rec = {"train": name, "train_config": config, "scored_config": str(args.config), "blocks": list(blocks),
               "n_rows": int(len(rows.label)), "n_train_rows": int(allowed.sum()), **family_summary(fam, thr),
               "seconds": round(time.time() - t0)}
        emit(rec, args.json)


if __name__ == "__main__":
    main()
