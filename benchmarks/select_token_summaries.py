"""Leave-family-out figures of the CLIP probe alone under other summaries of the recipe's stored tokens
(the float32 token stores `forensics train-fused` writes), each at its own source-balanced 1% threshold:

- `mean`: mean patch token of blocks 4-6 of the `resize224` view (the shipped features);
- `meanstd`: the mean and the per-channel standard deviation of the patch tokens;
- `hardneg`: the mean, refitted once with the top 10% of each real source's training scores up-weighted 4x;
- `views`: the mean of the `resize224` view beside the mean of a native-resolution centre crop (`crop224`).

    python benchmarks/select_token_summaries.py --config configs/fused/default.json --store runs/features \
        --variants mean meanstd hardneg views --json reports/fused/selection_summaries.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BLOCKS = (4, 5, 6)


def token_summaries(tokens: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per image: the mean and the standard deviation over patch tokens, (n, width) float32 each."""
    mean = np.zeros((len(tokens), tokens.shape[2]), np.float32)
    std = np.zeros_like(mean)
    for i in range(0, len(tokens), chunk):
        t = tokens[i:i + chunk].astype(np.float32)
        mean[i:i + chunk], std[i:i + chunk] = t.mean(axis=1), t.std(axis=1)
    return mean, std


def probe_fitter(feats: np.ndarray, l2: float, hard_weight: float = 0.0) -> Callable:
    """cross_fit's fit function: a logistic probe on rows of `feats` (optionally refitted once with the
    highest-scoring tenth of each real source's training photos weighted `hard_weight` times)."""
    from forensics.pretrained.probe import balanced_weights, fit_logistic

    def fit(idx: np.ndarray, y: np.ndarray, src: np.ndarray):
        x = feats[idx[:, 0]]
        w = balanced_weights(y, src)
        mu, sd, coef, b = fit_logistic(x, y, w, l2=l2, max_iter=200)
        if hard_weight:
            s = ((x - mu) / sd) @ coef + b
            w = w.copy()
            for name in set(src[y == 0]):
                own = (src == name) & (y == 0)
                w[own & (s >= np.quantile(s[own], 0.9))] *= hard_weight
            mu, sd, coef, b = fit_logistic(x, y, w, l2=l2, max_iter=200)
        return lambda jdx: ((feats[jdx[:, 0]] - mu) / sd) @ coef + b

    return fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--variants", nargs="+", default=["mean", "meanstd", "hardneg", "views"])
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--groups", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from forensics.pretrained.calibration import balanced_threshold
    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.recipe import CLEAN, _figures, load_tokens
    from forensics.pretrained.selection import cross_fit

    cfg = json.loads(args.config.read_text())
    sources = load_sources(cfg, args.config.parent)
    conditions, degraded = list(cfg["conditions"]), cfg.get("degraded_condition")
    rows, tokens = load_tokens(sources, BLOCKS, "resize224", conditions, args.store, "float32")
    mean, std = token_summaries(tokens)
    del tokens
    feats = {"mean": lambda: mean, "hardneg": lambda: mean, "meanstd": lambda: np.concatenate([mean, std], axis=1)}
    if "views" in args.variants:
        crop_rows, crop_tokens = load_tokens(sources, BLOCKS, "crop224", conditions, args.store, "float32")
        where = {(k, c): i for i, (k, c) in enumerate(zip(crop_rows.keys, crop_rows.condition))}
        keep = np.array([(k, c) in where for k, c in zip(rows.keys, rows.condition)])
        if not keep.all():
            print(f"views: {int((~keep).sum())} rows lack the crop224 view and are left out of every variant")
            rows = rows.subset(keep)
            rows.feats = np.arange(len(rows.label))[:, None]
            mean, std = mean[keep], std[keep]
        crop_mean, _ = token_summaries(crop_tokens[[where[(k, c)] for k, c in zip(rows.keys, rows.condition)]])
        del crop_tokens
        feats["views"] = lambda: np.concatenate([mean, crop_mean], axis=1)

    clean_real = (rows.label == 0) & (rows.condition == CLEAN)
    for name in args.variants:
        t0 = time.time()
        fit = probe_fitter(feats[name](), args.l2, hard_weight=4.0 if name == "hardneg" else 0.0)
        cf = cross_fit(rows, fit, n_groups=args.groups)
        thr = balanced_threshold(cf.real_logit[clean_real], rows.source[clean_real], float(cfg.get("target_fpr", 0.01)),
                                 per_source_cap=cfg.get("per_source_fpr_cap"))
        fam = _figures(cf, thr, degraded)["families"]
        rec = {"variant": name, "l2": args.l2, "n_rows": int(len(rows.label)),
               "worst_ap": round(min(r["ap_clean"] for r in fam), 3),
               "mean_ap": round(float(np.mean([r["ap_clean"] for r in fam])), 3),
               "worst_ap_degraded": round(min(r["ap_degraded"] for r in fam), 3),
               "mean_flagged": round(float(np.mean([r["flagged_clean"] for r in fam])), 3),
               "threshold": round(float(1 / (1 + np.exp(-thr))), 5),
               "families": {r["family"]: {"ap": round(r["ap_clean"], 3), "ap_degraded": round(r["ap_degraded"], 3),
                                          "flagged": round(r["flagged_clean"], 3)} for r in fam},
               "seconds": round(time.time() - t0)}
        print(json.dumps({k: v for k, v in rec.items() if k != "families"}), flush=True)
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
