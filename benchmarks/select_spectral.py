"""A hand-made representation beside CLIP, leave-family-out (reports/fused/selection.md, section 28): the log power
spectrum of the high-pass residual (grey minus its Gaussian blur), averaged over up to 9 tiles of 128 px at native
resolution, summarised as its overall level, a radial profile, a 16x16 coarse map and a 32x32 map of peaks over
the local median (where upsampling layers leave periodic traces); 1,313 numbers per image, clean and after JPEG
75 + 0.5x. Each variant (`spec` alone, `clip` = the recipe's token means, `clip+spec` in one probe) is cross-fitted
as `forensics train-fused` does, scored alone at its own threshold and fused with a patch model.

    python benchmarks/select_spectral.py --config configs/fused/default.json --extract-config configs/fused/v11.json \
        --features runs/spectral.npz --store runs/features --json reports/fused/selection_spectral.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

DEGRADED = "jpeg:75+resize:0.5"

TILE = 128
GRID = 64


def features(rgb: np.ndarray) -> np.ndarray | None:
    """The 1,313 spectral numbers of one image (None below 32 px)."""
    from forensics.analysis.spectra import amplitude_spectrum, highpass_residual

    r = highpass_residual(rgb, sigma=1.0)
    h, w = r.shape
    t = min(TILE, h, w)
    if t < 32:
        return None
    ys = np.unique(np.linspace(0, h - t, 3).astype(int))
    xs = np.unique(np.linspace(0, w - t, 3).astype(int))
    acc = np.zeros((t, t), np.float64)
    n = 0
    for y in ys:
        for x in xs:
            acc += amplitude_spectrum(r[y:y + t, x:x + t]).astype(np.float64) ** 2  # Hann-windowed, mean removed
            n += 1
    L = np.log(acc / n + 1e-12).astype(np.float32)
    if t != GRID * 2:
        L = cv2.resize(L, (GRID * 2, GRID * 2), interpolation=cv2.INTER_LINEAR)
    L = cv2.resize(L, (GRID, GRID), interpolation=cv2.INTER_AREA)
    energy = float(L.mean())
    Ln = L - energy
    coarse = cv2.resize(Ln, (16, 16), interpolation=cv2.INTER_AREA).ravel()
    peaks = Ln - cv2.medianBlur(Ln, 5)
    peaks = peaks.reshape(32, 2, 32, 2).max(axis=(1, 3)).ravel()
    yy, xx = np.mgrid[:GRID, :GRID] - GRID / 2
    rad = np.minimum((np.hypot(yy, xx) / (GRID / 2) * 32).astype(int), 31)
    radial = np.bincount(rad.ravel(), Ln.ravel(), 32) / np.maximum(np.bincount(rad.ravel(), None, 32), 1)
    return np.concatenate([[energy], radial, coarse, peaks]).astype(np.float32)


def one(job: tuple[str, str]) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    from forensics.decoding import load_image
    from forensics.perturb import parse_perturbation

    key, path = job
    try:
        rgb = load_image(path).rgb
    except Exception:  # noqa: BLE001 - an unreadable file is left out, as the feature store does
        return key, None, None
    return key, features(rgb), features(parse_perturbation(DEGRADED)(rgb))


def extract(config: Path, out: Path) -> None:
    """Spectral features of every image of `config`'s sources, clean and degraded, into `out` (.npz)."""
    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.recipe import image_key

    cfg = json.loads(config.read_text())
    jobs = [(image_key(s, f), str(f)) for s in load_sources(cfg, config.parent) for f in s.files]
    keys, clean, deg = [], [], []
    t0 = time.time()
    with Pool(2) as pool:
        for k, c, d in pool.imap(one, jobs, chunksize=8):
            if c is not None and d is not None:
                keys.append(k), clean.append(c), deg.append(d)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, keys=np.array(keys), clean=np.stack(clean), degraded=np.stack(deg))
    print(f"{len(keys)} of {len(jobs)} images in {time.time() - t0:.0f} s -> {out}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--train", type=Path, default=Path("configs/fused/default.json"))
    ap.add_argument("--store", type=Path, default=Path("runs/features"))
    ap.add_argument("--features", type=Path, required=True, help="spectral features (.npz; extracted if absent)")
    ap.add_argument("--extract-config", type=Path, help="the recipe whose images to extract (default: --config)")
    ap.add_argument("--variants", nargs="+", default=["clip", "spec", "clip+spec"])
    ap.add_argument("--patch", default="patch-pairs")
    ap.add_argument("--spec-l2", type=float, default=1e-3)
    ap.add_argument("--spec-gain", type=float, default=1.0, help="scale of the spectral block in the joint probe")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from select_token_summaries import emit, family_summary
    from select_training_sets import training_keys

    from forensics.pretrained.calibration import balanced_threshold
    from forensics.pretrained.probe import balanced_weights, fit_probe
    from forensics.pretrained.recipe import (CLEAN, ProbeKind, _figures, check_content_names, crossfit_grouping, fuse,
                                             patch_scores, restricted, stored_rows)
    from forensics.pretrained.selection import cross_fit

    cfg = json.loads(args.config.read_text())
    conditions, section = list(cfg["conditions"]), cfg["clip"]
    sources, blocks, rows, tokens = stored_rows(cfg, args.config.parent, args.store)
    train_recipe = json.loads(args.train.read_text())
    check_content_names(train_recipe)
    kind = ProbeKind({**section, "balance_content": train_recipe["clip"].get("balance_content")}, blocks, sources)
    means = kind.means(tokens, np.arange(len(tokens)))
    del tokens
    kind._means = None

    if not args.features.exists():
        extract(args.extract_config or args.config, args.features)
    sp = np.load(args.features)
    pos = {k: i for i, k in enumerate(sp["keys"])}
    spec = np.full((len(rows.keys), sp["clean"].shape[1]), np.nan, np.float32)
    for i, (k, c) in enumerate(zip(rows.keys, rows.condition)):
        if k in pos:
            spec[i] = sp["clean" if c == CLEAN else "degraded"][pos[k]]
    have = np.isfinite(spec).all(axis=1)
    print(f"{len(rows.keys)} rows, {int(have.sum())} with spectral features", flush=True)
    spec[~have] = np.nanmean(spec, axis=0)

    scores = patch_scores(sources, args.patch, conditions, args.store)
    patch = np.array([scores[c].get(k, np.nan) for k, c in zip(rows.keys, rows.condition)])
    allowed = np.isin(rows.keys, sorted(training_keys(args.train)))
    content_of = kind.content_of
    clean_real = (rows.label == 0) & (rows.condition == CLEAN)
    train_cfg = {**cfg, "patch_unseen_sources": train_recipe.get("patch_unseen_sources", [])}

    def fitter(x: np.ndarray, l2: float):
        def fit(idx, y, src):
            cells = None if content_of is None else np.array([content_of[s] for s in src])
            w = balanced_weights(y, src, cells)
            probe = fit_probe(x[idx[:, 0]], y, kind.spec, weights=w, l2=l2)
            return lambda jdx: probe.logits(x[jdx[:, 0]])
        return fit

    grouping = crossfit_grouping(cfg)
    for variant in args.variants:
        if variant == "clip":
            x, l2 = means, kind.l2
        elif variant == "spec":
            x, l2 = spec, args.spec_l2
        else:
            x, l2 = np.concatenate([means, spec * args.spec_gain], axis=1), kind.l2
        cf = cross_fit(rows, restricted(fitter(x, l2), allowed), **grouping)
        thr = balanced_threshold(cf.real_logit[clean_real], rows.source[clean_real], float(cfg.get("target_fpr", 0.01)),
                                 per_source_cap=cfg.get("per_source_fpr_cap"))
        alone = _figures(cf, thr, cfg.get("degraded_condition"))
        emit({"variant": variant, "fused": False, "scored_config": str(args.config), **family_summary(alone["families"], thr)}, args.json)
        combiner, fused, thr = fuse(cf, patch, train_cfg, allowed, log=lambda _m: None)
        figs = _figures(fused, thr, cfg.get("degraded_condition"))
        emit({"variant": variant, "fused": True, "scored_config": str(args.config), "patch": args.patch, "combiner": combiner.to_dict(),
              **family_summary(figs["families"], thr),
              "real_fp": {r["source"]: f'{r["fp_clean"]}/{r["n_clean"]}' for r in figs["reals"] if r["fp_clean"]}},
             args.json)


if __name__ == "__main__":
    main()
