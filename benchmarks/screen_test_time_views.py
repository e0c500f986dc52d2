"""Would scoring more views of each image at test time help? A diagnostic on the model card's files.

    python benchmarks/screen_test_time_views.py runs/default_v28_average --views flip,up2 --json research/screening/test_time_views.jsonl

Scores every card image (80 held-back validation files per source, clean and after JPEG 75 + 0.5x of both
classes) as the run scores it, then again through each test-time view (`flip`: mirrored left-right;
`up2`: enlarged 2x, bicubic; `down0.75`: shrunk to 0.75x, area filter), and combines each view's image
score with the plain one (`mean` and `max` of the two). For each view and combination: mean AP clean and
re-encoded, the AP of every fake set, and both mean-AP differences from the plain scores with their 95%
paired bootstrap intervals on the same files. No training; the model is unchanged.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch_card.scoring import COMPARED_CONDITIONS, _ap, card_inputs, interval_text, versus  # noqa: E402
from forensics.perturb import parse_perturbation  # noqa: E402

View = Callable[[np.ndarray], np.ndarray]


def _flip(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, ::-1])


# the scaled views are the degradation sweep's resize (bicubic up, area down)
VIEWS: dict[str, View] = {"flip": _flip, "up2": parse_perturbation("resize:2"),
                          "down0.75": parse_perturbation("resize:0.75")}

COMBINATIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "mean": lambda plain, viewed: (plain + viewed) / 2,
    "max": np.maximum,
}


def view_scores(score: Callable[[np.ndarray], float], images: dict, view: View | None = None) -> dict:
    """{condition: {set: image scores}} of `images` ({condition: {set: [pixels]}}), each image seen
    through `view` first when one is given."""
    see = view or (lambda rgb: rgb)
    return {c: {n: np.array([score(see(a)) for a in arrs], dtype=float) for n, arrs in sets.items()}
            for c, sets in images.items()}


def combined(plain: dict, viewed: dict, how: str) -> dict:
    """Each image's plain score and its view's score combined by `how` (a `COMBINATIONS` name)."""
    join = COMBINATIONS[how]
    return {c: {n: join(plain[c][n], viewed[c][n]) for n in plain[c]} for c in plain}


def ap_row(scores: dict, reals: list, fakes: list) -> dict:
    """Mean AP per condition and each fake set's [clean, re-encoded] AP."""
    from forensics.metrics import mean_ap

    return {"mean_ap": {c: mean_ap(scores[c], reals, fakes) for c in COMPARED_CONDITIONS},
            "ap": {f: [round(_ap(scores[c], reals, f), 4) for c in COMPARED_CONDITIONS] for f in fakes}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="run directory (config.json + model.safetensors)")
    ap.add_argument("--views", default="flip,up2,down0.75", help=f"comma-separated, of {', '.join(VIEWS)}")
    ap.add_argument("--per-source", type=int, default=80)
    ap.add_argument("--json", type=Path, default=None, help="append one JSON line per view and combination here")
    args = ap.parse_args()
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        ap.error(f"--views: no view {', '.join(unknown)} (views: {', '.join(VIEWS)})")

    from forensics import Detector

    det = Detector.load(args.run, device="cpu")
    _, pix, reals, fakes, degraded = card_inputs(det.config, args.per_source)
    images = {"clean": {n: arrs for n, (_, arrs) in pix.items()}, "jpeg75_resize0.5": degraded["jpeg75_resize0.5"]}

    from forensics.aggregate import SCORE_DECIMALS

    def score(rgb: np.ndarray) -> float:  # as scans report it
        return round(float(det.score_rule(det.cell_map(rgb).fake_logit)), SCORE_DECIMALS)

    plain = view_scores(score, images)
    rows = [{"run": args.run.as_posix(), "model": det.model_id, "view": "none", **ap_row(plain, reals, fakes)}]
    for name in views:
        viewed = view_scores(score, images, VIEWS[name])
        for how, scores in [("alone", viewed)] + [(h, combined(plain, viewed, h)) for h in COMBINATIONS]:
            rows.append({"run": args.run.as_posix(), "model": det.model_id, "view": name, "combination": how,
                         **ap_row(scores, reals, fakes), "vs_plain": versus(plain, scores, reals, fakes)})
    for row in rows:
        label = row["view"] + (f" ({row['combination']})" if "combination" in row else "")
        line = (f"{label}: mean AP {row['mean_ap']['clean']:.6f} clean / {row['mean_ap']['jpeg75_resize0.5']:.4f} "
                f"JPEG75+0.5x")
        if "vs_plain" in row:
            line += "; minus plain: " + "; ".join(f"{c} {interval_text(v)}" for c, v in row["vs_plain"].items())
        print(line, flush=True)
        if args.json:
            with args.json.open("a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
