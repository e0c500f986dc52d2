"""Patch-model scores of every source of a fused recipe, clean and re-encoded (resumable JSON per condition).

    python benchmarks/patch_scores.py --config configs/fused/default.json --store runs/features --model default

The fused recipe's combiner and its cross-fitted figures read these (`benchmarks/select_clip_probe.py`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def scores_path(store: Path, model_id: str, condition: str) -> Path:
    safe = condition.replace(":", "").replace("+", "_")
    return store / f"patch__{model_id}__{safe}.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--model", default="default")
    ap.add_argument("--conditions", default="clean")
    args = ap.parse_args()

    from forensics.checkpoint import atomic_write_json
    from forensics.decoding import load_image
    from forensics.detector import Detector
    from forensics.perturb import parse_perturbations
    from forensics.pretrained.dataset import load_sources

    det = Detector.load(args.model, device="cpu")
    cfg = json.loads(args.config.read_text())
    sources = load_sources(cfg, args.config.parent)
    wanted = [c for c in args.conditions.split(",") if c]
    conds = {k: v for k, v in parse_perturbations(",".join(c for c in wanted if c != "clean")).items() if k in wanted}
    for cond, fn in conds.items():
        path = scores_path(args.store, Path(args.model).name, cond)  # the recipe's file name
        done = json.loads(path.read_text()) if path.exists() else {}
        for s in sources:
            t0, n = time.time(), 0
            for f in s.files:
                key = f"{s.name}/{f.relative_to(s.folder)}"
                if key in done:
                    continue
                try:
                    done[key] = det.score(fn(load_image(f).rgb))
                except Exception as e:  # noqa: BLE001
                    print(f"skipped {key}: {e}")
                n += 1
            if n:
                atomic_write_json(path, done)
                print(f"{cond} {s.name}: {n} images, {n / (time.time() - t0):.1f}/s", flush=True)


if __name__ == "__main__":
    main()
