"""Does a worst-group objective help the families left out? The fused recipe's cross-fit with a CLIP probe
refitted `--rounds` times, each time reweighting every training fake family and every real kind of photo by
its own mean loss to the power GAMMA (a group-DRO-style step; multipliers clipped to [1/4, 4], each class
keeping its total weight), on the recipe's rows, against the shipped figures (`reports/fused/selection.md`,
section 21).

    python benchmarks/fused_family_reweighting.py --config configs/fused/default.json --store runs/features \\
        --gammas 1 2 --json reports/fused/fused_same_rows_dro.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def group_multipliers(loss: np.ndarray, labels: np.ndarray, groups: np.ndarray, base: np.ndarray,
                      gamma: float) -> np.ndarray:
    """Per-row weights: `base` times (group's mean loss / the class's mean group loss) ** gamma, clipped to
    [1/4, 4], rescaled so each class keeps its total base weight."""
    w = base.astype(np.float64).copy()
    for y in (0, 1):
        in_class = labels == y
        names = np.unique(groups[in_class])
        if not len(names):
            continue
        mean_loss = {g: np.average(loss[in_class & (groups == g)], weights=base[in_class & (groups == g)])
                     for g in names}
        average = float(np.mean(list(mean_loss.values())))
        for g, value in mean_loss.items():
            w[in_class & (groups == g)] *= np.clip((value / average) ** gamma, 0.25, 4.0)
        w[in_class] *= base[in_class].sum() / w[in_class].sum()
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--gammas", type=float, nargs="+", default=[1.0, 2.0])
    ap.add_argument("--rounds", type=int, default=2, help="reweighted refits after the first fit")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from select_token_summaries import emit, family_summary
    from select_training_sets import training_keys

    from forensics.pretrained.probe import balanced_weights, fit_probe
    from forensics.pretrained.recipe import (ProbeKind, _figures, check_content_names, crossfit_grouping, fuse,
                                             patch_scores, restricted, stored_rows)
    from forensics.pretrained.selection import cross_fit

    cfg = json.loads(args.config.read_text())
    check_content_names(cfg)
    section, conditions = cfg["clip"], list(cfg["conditions"])
    sources, blocks, rows, tokens = stored_rows(cfg, args.config.parent, args.store)
    family_of = {s.name: s.family for s in sources}
    scores = patch_scores(sources, cfg["patch_model"], conditions, args.store)
    patch = np.array([scores[c].get(k, np.nan) for k, c in zip(rows.keys, rows.condition)])
    allowed = np.isin(rows.keys, sorted(training_keys(args.config)))

    class Reweighted(ProbeKind):
        def __init__(self, gamma: float) -> None:
            super().__init__(section, blocks, sources)
            self.gamma = gamma

        def fit(self, tokens: np.ndarray, idx: np.ndarray, labels: np.ndarray, srcs: np.ndarray):
            cells = None if self.content_of is None else np.array([self.content_of[s] for s in srcs])
            base = balanced_weights(labels, srcs, cells)
            groups = np.array([family_of[s] for s in srcs])
            x, w = self.means(tokens, idx), base
            for _ in range(args.rounds):
                logit = fit_probe(x, labels, self.spec, weights=w, l2=self.l2).logits(x)
                loss = np.where(labels == 1, np.logaddexp(0, -logit), np.logaddexp(0, logit))
                w = group_multipliers(loss, labels, groups, base, self.gamma)
            return fit_probe(x, labels, self.spec, weights=w, l2=self.l2)

    grouping = crossfit_grouping(cfg)
    for gamma in args.gammas:
        kind = Reweighted(gamma)
        cf = cross_fit(rows, restricted(kind.fitter(tokens), allowed), **grouping)
        combiner, fused, thr = fuse(cf, patch, cfg, allowed, log=lambda _msg: None)
        figures = _figures(fused, thr, cfg.get("degraded_condition"))
        emit({"train": f"reweighted-gamma{gamma:g}", "rounds": args.rounds, "scored_config": str(args.config),
              "combiner": combiner.to_dict(), **family_summary(figures["families"], thr),
              "real_fp": {r["source"]: f'{r["fp_clean"]}/{r["n_clean"]}' for r in figures["reals"] if r["fp_clean"]}},
             args.json)


if __name__ == "__main__":
    main()
