"""Extract and store CLIP token-state features of every source of a recipe (resumable).

    python benchmarks/clip_features.py --config configs/fused/default.json --store runs/features \
        --views resize224 --conditions clean,jpeg:75+resize:0.5

Features of blocks 4-11 (mean of patch tokens and CLS) are stored per view and condition, so that feature
sets can be compared later without running the encoder again. Each condition is applied to the decoded
image before the view is taken, identically for both classes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

STORED_BLOCKS = tuple(range(4, 12))


def store_folder(root: Path, view: str, condition: str) -> Path:
    safe = condition.replace(":", "").replace("+", "_")
    return root / f"{view}__{safe}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--views", default="resize224")
    ap.add_argument("--conditions", default="clean")
    ap.add_argument("--sources", default="", help="comma list of source names (default: all)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tokens", default="", help="store the patch tokens of these blocks (e.g. 4,5,6) instead of "
                                                  "the per-image summaries")
    args = ap.parse_args()

    from forensics.decoding import load_image
    from forensics.perturb import parse_perturbations
    from forensics.pretrained.clip_encoder import ClipEncoder
    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.features import FeatureSpec, FeatureStore

    cfg = json.loads(args.config.read_text())
    sources = load_sources(cfg, args.config.parent)
    if args.sources:
        keep = set(args.sources.split(","))
        sources = [s for s in sources if s.name in keep]
    wanted = [c for c in args.conditions.split(",") if c]
    conditions = {k: v for k, v in parse_perturbations(",".join(c for c in wanted if c != "clean")).items()
                  if k in wanted}
    if args.tokens:  # what `forensics train-fused` reads
        from forensics.pretrained.recipe import extract_tokens

        for view in args.views.split(","):
            extract_tokens(sources, tuple(int(b) for b in args.tokens.split(",")), view, list(conditions),
                           args.store)
        return
    encoder = ClipEncoder(STORED_BLOCKS, threads=args.threads)
    for view in args.views.split(","):
        spec = FeatureSpec(STORED_BLOCKS, STORED_BLOCKS, view)
        for cond, fn in conditions.items():
            store = FeatureStore(store_folder(args.store, view, cond), spec, cond)
            for s in sources:
                t0 = time.time()
                items = ((f"{s.name}/{f.relative_to(s.folder)}", (lambda f=f: fn(load_image(f).rgb))) for f in s.files)
                n = store.extract(encoder, items)
                if n:
                    print(f"{view} {cond} {s.name}: {n} images, {n / (time.time() - t0):.2f}/s", flush=True)


if __name__ == "__main__":
    main()
