"""Pilot for a probe per kind of picture (reports/fused/selection.md, section 39): on the rows of one content cell
(default: close-up faces, `clip.balance_content`'s "faces-hq"), a probe fitted on that cell's rows alone against the
recipe's general probe, both cross-fitted leave-family-out with held-out real sources, scored on the cell's left-out
fakes against its held-out photos only (CLIP logits alone, clean rows, AP with both classes weighted equally).

    python benchmarks/kind_expert_pilot.py --config configs/fused/default.json --store runs/features \\
        --json reports/fused/kind_expert_pilot.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def balanced_ap(fake: np.ndarray, real: np.ndarray) -> float:
    """Average precision of fakes over reals with both classes weighted equally."""
    from sklearn.metrics import average_precision_score

    y = np.r_[np.ones(len(fake)), np.zeros(len(real))]
    w = np.r_[np.full(len(fake), 1 / len(fake)), np.full(len(real), 1 / len(real))]
    return float(average_precision_score(y, np.r_[fake, real], sample_weight=w))


def expert_vs_general(rows: Any, in_cell: np.ndarray, fit_on: Callable[[np.ndarray], Any],
                      cross_fit_kwargs: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{family: {n, general, expert, mean}} on the cell's clean rows: `fit_on(mask)` gives a `cross_fit` fit function
    that trains only on the rows of `mask` (indices into `rows`); the general probe may train on every row, the
    expert on the cell's rows only; both score the same cell rows."""
    from forensics.pretrained.selection import cross_fit

    general = cross_fit(rows, fit_on(np.ones(len(rows.label), bool)), **cross_fit_kwargs)
    expert = cross_fit(rows, fit_on(in_cell), **cross_fit_kwargs)
    clean = in_cell & (rows.condition == "clean")
    out: dict[str, dict[str, float]] = {}
    for fam in sorted(set(rows.family[in_cell & (rows.label == 1)])):
        f = clean & np.isfinite(general.fake_logit[fam])
        r = clean & (rows.label == 0) & np.isfinite(general.real_logit_without[fam])
        if not f.any() or not r.any():
            continue
        g = (general.fake_logit[fam][f], general.real_logit_without[fam][r])
        e = (expert.fake_logit[fam][f], expert.real_logit_without[fam][r])
        out[str(fam)] = {"n": int(f.sum()), "n_real": int(r.sum()), "general": round(balanced_ap(*g), 3),
                         "expert": round(balanced_ap(*e), 3),
                         "mean": round(balanced_ap((g[0] + e[0]) / 2, (g[1] + e[1]) / 2), 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--cell", default="faces-hq", help="content cell of clip.balance_content whose rows the expert fits")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from forensics.pretrained.recipe import ProbeKind, crossfit_grouping, restricted, stored_rows

    cfg = json.loads(args.config.read_text())
    sources, blocks, rows, tokens = stored_rows(cfg, args.config.parent, args.store, require=True)
    kind = ProbeKind(cfg["clip"], blocks, sources)
    if kind.content_of is None:
        sys.exit(f"error: {args.config}: clip.balance_content names no content cells")
    in_cell = np.array([kind.content_of[s] == args.cell for s in rows.source])
    trainable = ~np.isin(rows.source, sorted(set(cfg.get("eval_only_sources", []))))

    # the recipe's own probe fit (content-balanced weights, its L2), restricted to the rows of a mask
    fit_on = lambda mask: restricted(kind.fitter(tokens), mask & trainable)  # noqa: E731
    table = expert_vs_general(rows, in_cell, fit_on, crossfit_grouping(cfg))
    print(f"| family ({args.cell}) | fakes | held-out photos | general probe | {args.cell} expert | mean of the two |")
    print("|---|---|---|---|---|---|")
    for fam, r in sorted(table.items(), key=lambda t: t[1]["general"]):
        print(f"| {fam} | {r['n']} | {r['n_real']} | {r['general']:.3f} | {r['expert']:.3f} | {r['mean']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"config": str(args.config), "cell": args.cell, "families": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
