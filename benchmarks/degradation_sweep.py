"""Which part of re-encoding costs the detector its evidence: JPEG quality, downscaling, or their order.

    python benchmarks/degradation_sweep.py                 # writes reports/degradation.{json,md}

The model card reports one degraded condition, JPEG 75 then a 0.5x resize of both classes. This sweep
scores the card's validation files (`--per-source` per source, the card's subsample) under JPEG alone at
several qualities, resizing alone, and both in either order (a sharing site usually resizes first, then
compresses), and reports for each condition the mean AP over the fake sets, the AP of each external
fake set (those not made by the bundled generators), and the share of each flagged at the shipped
threshold, with the false-positive rate that threshold gives on the real photos under the same condition.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch_card.scoring import REPO, card_inputs, score_arrays  # noqa: E402

CONDITIONS = ("jpeg:95", "jpeg:90", "jpeg:80", "jpeg:75", "jpeg:60", "resize:0.75", "resize:0.5",
              "jpeg:75+resize:0.5", "resize:0.5+jpeg:75")  # scored after "clean", which is always first
BUNDLED_PREFIX = "fake:gen_"  # sets sampled from the bundled generators; the others are external


def condition_figures(det, pix: dict, reals: list, fakes: list, degrade: Callable[[np.ndarray], np.ndarray]) -> dict:
    """Mean AP, per-set AP, and shares flagged at the detector's threshold with every image `degrade`d."""
    from forensics.metrics import mean_ap

    scores = {n: score_arrays(det, [degrade(a) for a in arrs]) for n, (_, arrs) in pix.items()}
    real = np.concatenate([scores[n] for n in reals])
    return {"mean_ap": mean_ap(scores, reals, fakes),
            "ap": {f: mean_ap(scores, reals, [f]) for f in fakes},
            "flagged": {n: float((scores[n] >= det.threshold).mean()) for n in fakes},
            "real_fpr": float((real >= det.threshold).mean())}


def write_report(fig: dict, path: Path) -> None:
    external = [f for f in next(iter(fig["conditions"].values()))["ap"] if not f.startswith(BUNDLED_PREFIX)]
    lines = ["# Where re-encoding costs the evidence", "",
             f"Written by `python benchmarks/degradation_sweep.py`: `{fig['model']}` (threshold {fig['threshold']:.6f}) "
             f"on the model card's validation files ({fig['per_source']} per source at most), every image of both "
             "classes degraded the same way. `jpeg:Q` re-saves at JPEG quality Q, `resize:F` scales by F (area "
             "filter), `+` applies them in that order; the card's re-encoded condition is `jpeg:75+resize:0.5`. "
             "Mean AP is over all fake sets against the pooled reals; the external sets are those no bundled "
             "generator made. *Flagged*: share called fake at the shipped threshold; *real FPR*: share of the "
             "real photos called fake at it under the same condition.", "",
             "| condition | mean AP | " + " | ".join(f"AP {f[5:]}" for f in external) + " | "
             + " | ".join(f"flagged {f[5:]}" for f in external) + " | real FPR |",
             "|---|---|" + "---|" * (2 * len(external)) + "---|"]
    for spec, c in fig["conditions"].items():
        lines.append(f"| `{spec}` | {c['mean_ap']:.4f} | " + " | ".join(f"{c['ap'][f]:.3f}" for f in external) + " | "
                     + " | ".join(f"{c['flagged'][f]:.2f}" for f in external) + f" | {c['real_fpr']:.3f} |")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=REPO / "forensics" / "weights" / "patch")
    ap.add_argument("--per-source", type=int, default=80)
    ap.add_argument("--conditions", default=",".join(CONDITIONS),
                    help="comma list, scored after 'clean' (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "degradation.md")
    args = ap.parse_args()

    from forensics import Detector
    from forensics.perturb import parse_perturbations

    det = Detector.load(args.model, device="cpu")
    _, pix, reals, fakes, _ = card_inputs(det.config, args.per_source)
    fig = {"model": det.model_id, "threshold": det.threshold, "per_source": args.per_source, "conditions": {}}
    for spec, degrade in parse_perturbations(args.conditions).items():
        fig["conditions"][spec] = c = condition_figures(det, pix, reals, fakes, degrade)
        print(f"{spec}: mean AP {c['mean_ap']:.4f}, real FPR {c['real_fpr']:.3f}", flush=True)
    args.out.with_suffix(".json").write_text(json.dumps(fig, indent=1) + "\n")
    write_report(fig, args.out)


if __name__ == "__main__":
    main()
