"""Leave-family-out figures of token-level CLIP probes (every patch token trained with its image's
label, image score = mean of the top fraction of token logits), against the per-image probes.

    python benchmarks/select_token_probe.py --config configs/fused/default.json --store runs/features \
        --tokens 4,5,6 --use 4,5,6 --l2 1e-2 --fractions 1,0.5,0.25,0.1 --json reports/fused/selection_tokens.jsonl
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--view", default="resize224")
    ap.add_argument("--condition", default="clean")
    ap.add_argument("--tokens", default="4,5,6", help="blocks held in the token store")
    ap.add_argument("--use", nargs="+", default=["4,5,6"], help="block subsets to try")
    ap.add_argument("--l2", default="1e-2")
    ap.add_argument("--per-image", type=int, default=24)
    ap.add_argument("--fractions", default="1,0.5,0.25,0.1")
    ap.add_argument("--groups", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from forensics.pretrained.calibration import balanced_threshold
    from forensics.pretrained.clip_encoder import WIDTH
    from forensics.pretrained.dataset import load_sources
    from forensics.pretrained.probe import balanced_weights
    from forensics.pretrained.recipe import load_tokens
    from forensics.pretrained.report_figures import family_table, real_table
    from forensics.pretrained.selection import column, cross_fit
    from forensics.pretrained.token_probe import fit_token_probe
    from select_clip_probe import report

    sources = load_sources(json.loads(args.config.read_text()), args.config.parent)
    stored_blocks = tuple(int(b) for b in args.tokens.split(","))
    rows, tokens = load_tokens(sources, stored_blocks, args.view, [args.condition], args.store)
    print(f"{len(rows.label)} images, tokens {tokens.shape}", flush=True)
    fractions = [float(f) for f in args.fractions.split(",")]

    for use in args.use:
        blocks = tuple(int(b) for b in use.split(","))
        cols = np.concatenate([np.arange(stored_blocks.index(b) * WIDTH, (stored_blocks.index(b) + 1) * WIDTH)
                               for b in blocks])
        sub = tokens[:, :, cols] if len(blocks) < len(stored_blocks) else tokens
        for l2 in (float(v) for v in args.l2.split(",")):
            def fit(idx, y, src):
                i = idx[:, 0]
                probe = fit_token_probe(sub[i], y, balanced_weights(y, src), blocks, per_image=args.per_image, l2=l2)

                def score(jdx):
                    tl = probe.token_logits(sub[jdx[:, 0]])
                    return np.stack([probe.aggregate(tl, f) for f in fractions], axis=1)
                return score

            t0 = time.time()
            cf_all = cross_fit(rows, fit, n_groups=args.groups)
            for j, frac in enumerate(fractions):
                cf = column(cf_all, j)
                real = rows.label == 0
                thr = balanced_threshold(cf.real_logit[real], rows.source[real], 0.01)
                fam = family_table(cf, thr)
                reals = real_table(cf, thr)
                rec = {"tokens": use, "l2": l2, "topk_fraction": frac, "threshold_logit": thr, "families": fam,
                       "reals": reals, "worst_ap_clean": min(r["ap_clean"] for r in fam),
                       "mean_ap_clean": float(np.mean([r["ap_clean"] for r in fam])),
                       "mean_auc_clean": float(np.mean([r["auc_clean"] for r in fam])),
                       "worst_flagged_clean": min(r["flagged_clean"] for r in fam)}
                report(rec, f"tokens {use} l2={l2} top {frac:.0%}: worst AP {rec['worst_ap_clean']:.3f} mean AP "
                            f"{rec['mean_ap_clean']:.3f} mean AUC {rec['mean_auc_clean']:.3f} worst flagged "
                            f"{rec['worst_flagged_clean']:.2f} ({time.time() - t0:.0f} s)", args.json)

if __name__ == "__main__":
    main()
