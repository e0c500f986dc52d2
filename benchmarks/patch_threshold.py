"""A patch model's own threshold by the fused default's rule: a source-balanced false-positive rate on the real
photos of the recipe's sources that the patch model never trained on (`patch_unseen_sources`), every source
at most `per_source_fpr_cap` of its photos (at least one photo). Reads the clean patch scores from the store
(`forensics train-fused` or `benchmarks/patch_pairs.py` writes them).

    python benchmarks/patch_threshold.py --config configs/fused/default.json --store runs/features --model patch-pairs
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True, help="the recipe whose held-out real sources calibrate")
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--model", required=True, help="the patch model (a shipped name or a folder)")
    args = ap.parse_args()

    from forensics.pretrained.calibration import balanced_fpr, balanced_threshold
    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.recipe import CLEAN, image_key, patch_scores

    cfg = json.loads(args.config.read_text())
    unseen = set(cfg.get("patch_unseen_sources", []))
    reals = [s for s in load_sources(cfg, args.config.parent) if s.label == 0 and s.name in unseen]
    scores = patch_scores(reals, args.model, [CLEAN], args.store)[CLEAN]
    pairs = [(scores[k], s.name) for s in reals for k in (image_key(s, f) for f in s.files) if k in scores]
    score, source = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    threshold = balanced_threshold(score, source, float(cfg.get("target_fpr", 0.01)),
                                   per_source_cap=cfg.get("per_source_fpr_cap"))
    fpr, per = balanced_fpr(score, source, threshold)
    print(json.dumps({"model": args.model, "threshold": round(threshold, 6), "n_real": len(score),
                      "n_sources": len(set(source)), "balanced_fpr": round(fpr, 4),
                      "fpr_per_source": {k: round(v, 4) for k, v in per.items() if v > 0}}))


if __name__ == "__main__":
    main()
