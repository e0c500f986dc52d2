"""Patch-model scores of every source of a fused recipe, per condition (resumable JSON per condition),
the same files `forensics train-fused` reads (forensics.pretrained.recipe.patch_scores).

    python benchmarks/patch_scores.py --config configs/fused/default.json --store runs/features --model patch \
        --conditions clean,jpeg:75+resize:0.5
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--model", default="patch")
    ap.add_argument("--conditions", default="clean")
    args = ap.parse_args()

    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.recipe import patch_scores

    sources = load_sources(json.loads(args.config.read_text()), args.config.parent)
    patch_scores(sources, args.model, [c for c in args.conditions.split(",") if c], args.store)


if __name__ == "__main__":
    main()
