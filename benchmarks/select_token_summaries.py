"""Leave-family-out figures of the CLIP probe alone under other summaries of the recipe's stored tokens
(the float32 token stores `forensics train-fused` writes), each at its own source-balanced 1% threshold:

- `mean`: mean patch token of blocks 4-6 of the `resize224` view (the shipped features);
- `meanstd`: the mean and the per-channel standard deviation of the patch tokens;
- `hardneg`: the mean, refitted once with the top 10% of each real source's training scores up-weighted 4x;
- `views`: the mean of the `resize224` view beside the mean of a native-resolution centre crop (`crop224`);
- `realpcaK`: the mean with the top K principal directions of the training fold's real photos projected
  out (content directions: what varies most among real photos), K in 4, 16, 64;
- `whitenA`: the mean whitened by the training fold's real-photo covariance, shrunk by A towards the identity;
- `knnresK`: the mean minus the mean of its K nearest training real photos (cosine), a content-matched residual.

Evaluation-only sources of the recipe are scored and never trained on, as in `forensics train-fused`.

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


Transform = Callable[[np.ndarray, np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def _real_covariance(x: np.ndarray, y: np.ndarray, w: np.ndarray):
    """(mean, scale, weighted covariance of the standardised real rows)."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
    r = (x[y == 0] - mu) / sd
    wr = w[y == 0] / w[y == 0].sum()
    centre = wr @ r
    return mu, sd, (r * wr[:, None]).T @ r - np.outer(centre, centre)


def real_pca_removed(k: int) -> Transform:
    """Standardise, then project out the top `k` principal directions of the fold's real photos."""
    def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        mu, sd, cov = _real_covariance(x, y, w)
        top = np.linalg.eigh(cov)[1][:, -k:]
        return lambda q: (lambda z: z - (z @ top) @ top.T)((q - mu) / sd).astype(np.float32)
    return fit


def real_whitened(shrink: float) -> Transform:
    """Standardise, then whiten by the fold's real-photo covariance shrunk by `shrink` towards the identity."""
    def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        mu, sd, cov = _real_covariance(x, y, w)
        cov = (1 - shrink) * cov + shrink * np.eye(len(cov)) * np.trace(cov) / len(cov)
        ev, vec = np.linalg.eigh(cov)
        white = vec / np.sqrt(ev)[None, :]
        return lambda q: (((q - mu) / sd) @ white).astype(np.float32)
    return fit


def knn_residual(k: int) -> Transform:
    """Standardise, then subtract the mean of the `k` nearest (cosine) real training rows; a row never
    counts itself (identical rows are skipped)."""
    def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
        reals = (x[y == 0] - mu) / sd
        unit = reals / np.linalg.norm(reals, axis=1, keepdims=True)

        def residual(q: np.ndarray) -> np.ndarray:
            z = (q - mu) / sd
            sim = (z / np.linalg.norm(z, axis=1, keepdims=True)) @ unit.T
            sim[sim > 0.99999] = -2.0
            near = np.argpartition(-sim, k, axis=1)[:, :k]
            return (z - reals[near].mean(axis=1)).astype(np.float32)
        return residual
    return fit


def probe_fitter(feats: np.ndarray, l2: float, hard_weight: float = 0.0,
                 transform: Transform | None = None) -> Callable:
    """cross_fit's fit function: a logistic probe on rows of `feats`, optionally after a `transform`
    fitted on the fold's training rows, optionally refitted once with the highest-scoring tenth of each
    real source's training photos weighted `hard_weight` times."""
    from forensics.pretrained.probe import balanced_weights, fit_logistic

    def fit(idx: np.ndarray, y: np.ndarray, src: np.ndarray):
        w = balanced_weights(y, src)
        tf = transform(feats[idx[:, 0]], y, w) if transform else (lambda q: q)
        x = tf(feats[idx[:, 0]])
        mu, sd, coef, b = fit_logistic(x, y, w, l2=l2, max_iter=200)
        if hard_weight:
            s = ((x - mu) / sd) @ coef + b
            w = w.copy()
            for name in set(src[y == 0]):
                own = (src == name) & (y == 0)
                w[own & (s >= np.quantile(s[own], 0.9))] *= hard_weight
            mu, sd, coef, b = fit_logistic(x, y, w, l2=l2, max_iter=200)
        return lambda jdx: ((tf(feats[jdx[:, 0]]) - mu) / sd) @ coef + b

    return fit


TRANSFORMS: dict[str, Transform] = {"realpca4": real_pca_removed(4), "realpca16": real_pca_removed(16),
                                    "realpca64": real_pca_removed(64), "whiten0.5": real_whitened(0.5),
                                    "whiten0.1": real_whitened(0.1), "knnres10": knn_residual(10)}


def family_summary(families: list[dict], threshold_logit: float) -> dict:
    """The figures every selection record carries: worst and mean AP over left-out families, the worst
    re-encoded AP, the mean share flagged, the threshold as P(fake), and each family's row."""
    fam = sorted(families, key=lambda r: r["ap_clean"])
    return {"worst_ap": round(fam[0]["ap_clean"], 3), "worst_family": str(fam[0]["family"]),
            "mean_ap": round(float(np.mean([r["ap_clean"] for r in fam])), 3),
            "worst_ap_degraded": round(min(r["ap_degraded"] for r in fam), 3),
            "mean_flagged": round(float(np.mean([r["flagged_clean"] for r in fam])), 3),
            "families_half_flagged": int(sum(r["flagged_clean"] >= 0.5 for r in fam)),
            "threshold": round(float(1 / (1 + np.exp(-threshold_logit))), 5),
            "families": {str(r["family"]): {"ap": round(r["ap_clean"], 3), "ap_degraded": round(r["ap_degraded"], 3),
                                            "flagged": round(r["flagged_clean"], 3)} for r in fam}}


def emit(rec: dict, path: Path | None) -> None:
    """Print a selection record without its per-family rows; append it whole to `path` (JSON lines)."""
    print(json.dumps({k: v for k, v in rec.items() if k != "families"}), flush=True)
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--variants", nargs="+", default=["mean", "meanstd", "hardneg", "views"],
                    choices=["mean", "meanstd", "hardneg", "views", *TRANSFORMS])
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--groups", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from forensics.pretrained.calibration import balanced_threshold
    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.recipe import CLEAN, _figures, load_tokens
    from forensics.pretrained.selection import cross_fit, restricted

    cfg = json.loads(args.config.read_text())
    sources = load_sources(cfg, args.config.parent)
    conditions, degraded = list(cfg["conditions"]), cfg.get("degraded_condition")
    rows, tokens = load_tokens(sources, BLOCKS, "resize224", conditions, args.store, "float32")
    mean, std = token_summaries(tokens)
    del tokens
    feats = {"mean": lambda: mean, "hardneg": lambda: mean, **{name: (lambda: mean) for name in TRANSFORMS}, "meanstd": lambda: np.concatenate([mean, std], axis=1)}
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
        fit = probe_fitter(feats[name](), args.l2, hard_weight=4.0 if name == "hardneg" else 0.0,
                           transform=TRANSFORMS.get(name))
        trained = ~np.isin(rows.source, list(cfg.get("eval_only_sources", [])))
        cf = cross_fit(rows, restricted(fit, trained), n_groups=args.groups)
        thr = balanced_threshold(cf.real_logit[clean_real], rows.source[clean_real], float(cfg.get("target_fpr", 0.01)),
                                 per_source_cap=cfg.get("per_source_fpr_cap"))
        fam = _figures(cf, thr, degraded)["families"]
        rec = {"variant": name, "l2": args.l2, "n_rows": int(len(rows.label)), **family_summary(fam, thr),
               "seconds": round(time.time() - t0)}
        emit(rec, args.json)

if __name__ == "__main__":
    main()
