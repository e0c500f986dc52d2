"""Screen candidate detectors on the model card's files and protocol, without writing a card.

    python benchmarks/screen_models.py runs/default_v21_average runs/default_v25_average_70 --per-source 80

For each run: its own threshold (<= 1% false positives on every real source), mean AP over the fake
sets clean and after JPEG 75 + 0.5x of both classes, the worst real-source, downscale-control and
colour-filter-control false-positive rates (the last is reported, not a target), the false positives
each real source takes at the threshold the other sources set, and the ECE of the score; for every run
after the first, both mean-AP differences from the first run with their 95% paired bootstrap intervals.
The card's rule for replacing the shipped model: every false-positive target met, at least one mean-AP
gain resolved (interval above 0), and neither mean AP lower by more than the files resolve (the low end of
its interval above -0.0015 clean, -0.010 re-encoded: `NONINFERIORITY_MARGIN`); each later run is judged by
it against the first (the card's `ship_blockers`), and the reasons it fails are printed.
A run written `A+B` is the prediction ensemble of runs A and B (each image's cell logits averaged,
scored under A's image-score rule): a diagnostic of what a distillation teacher made of several
models could know, never a shippable model (it costs the sum of their scans).
One line of JSON per run goes to `--json` if given. With `--grey`, every image (both classes, every
condition) is first turned grey (three equal channels of its luma): a diagnostic of how much of each
run's evidence survives without colour, not the card's protocol. With `--compare-sets fake:ldif,fake:stab`,
each later run's mean-AP differences from the first are also given over those fake sets alone (same files,
same paired bootstrap; a diagnostic of where a change acts, never the replacement rule).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch_card.scoring import card_inputs, condition_scores, interval_text, model_maps, versus  # noqa: E402
from patch_card.figures import accuracy_figures, calibration_figures  # noqa: E402
from patch_card.recipe import (mean_ap_of, ship_blockers, worst_colour_fpr, worst_control_fpr,  # noqa: E402
                               worst_real_fpr)


def _mean_grid(cells: tuple, where: str) -> np.ndarray:
    if len({np.shape(c) for c in cells}) > 1:
        raise ValueError(f"{where}: the ensembled models' cell grids differ; ensemble only models of one stride")
    return np.mean(cells, axis=0)


def _mean_maps(maps: list[dict]) -> dict:
    """Cell logits averaged over several models' `model_maps` (same files, same cell grids)."""
    if len(maps) == 1:
        return maps[0]
    out = {}
    for cond, sets in maps[0].items():
        out[cond] = {}
        for name in sets:
            per_image = zip(*(m[cond][name] for m in maps))
            out[cond][name] = [_mean_grid(cells, f"{cond}/{name}") for cells in per_image]
    return out


def screen(run: Path, pix: dict, degraded: dict, reals: list, fakes: list, aggregation: str | None,
           target_fpr: float, cache: dict | None = None) -> tuple[dict, dict, dict]:
    """The card's headline figures for one run (or `A+B` ensemble), scored on `pix` (and its re-encoded
    copies), its image scores clean and re-encoded (for the comparison with the first run), and its full
    figures (`accuracy_figures`, for the replacement rule). `cache` keeps each model's maps between runs."""
    from forensics import Detector
    from forensics.aggregate import ScoreRule

    cache = {} if cache is None else cache
    parts = [Path(p) for p in str(run).split("+")]
    dets, maps = [], []
    for part in parts:
        det = Detector.load(part, device="cpu")
        key = part.resolve().as_posix()
        if key not in cache:
            cache[key] = model_maps(det, pix, degraded)
        dets.append(det)
        maps.append(cache[key])
    det = dets[0]
    rule = ScoreRule.parse(aggregation) if aggregation else det.score_rule
    det.score_rule = rule
    maps = _mean_maps(maps)
    fig = accuracy_figures(maps, reals, fakes, rule, target_fpr)
    cal = calibration_figures(maps, reals, fakes, rule)
    scores = condition_scores(maps, rule)
    return {"run": run.as_posix(), "model": "+".join(d.model_id for d in dets), "threshold": fig["threshold"],
            "mean_ap_clean": mean_ap_of(fig, "clean"), "mean_ap_jpeg75_resize0.5": mean_ap_of(fig, "jpeg75_resize0.5"),
            "worst_real_fpr": worst_real_fpr(fig),
            "worst_control_fpr": worst_control_fpr(fig), "worst_colour_fpr": worst_colour_fpr(fig),
            "held_out_false_positives": {n: round(v["fpr"] * v["n"]) for n, v in fig["held_out_threshold"].items()},
            "ece_clean": cal["shipped"]["clean"]["ece"], "ece_jpeg75_resize0.5": cal["shipped"]["jpeg75_resize0.5"]["ece"],
            "ap": {f: [round(fig["ap"][f]["clean"], 4), round(fig["ap"][f]["jpeg75_resize0.5"], 4)] for f in fakes}}, scores, fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+",
                    help="run directories (config.json + model.safetensors); A+B scores their prediction ensemble")
    ap.add_argument("--per-source", type=int, default=80)
    ap.add_argument("--target-fpr", type=float, default=0.01)
    ap.add_argument("--aggregation", default=None, help="image-score rule for every run (default: each run's own)")
    ap.add_argument("--json", type=Path, default=None, help="append one JSON line per run here")
    ap.add_argument("--compare-sets", default=None,
                    help="comma-separated fake sets (e.g. fake:ldif,fake:glid3,fake:stab): also report each later "
                         "run's mean-AP differences from the first over these sets alone (a diagnostic; the "
                         "replacement rule always uses every set)")
    ap.add_argument("--grey", action="store_true",
                    help="turn every image grey before scoring (a diagnostic, not the card's protocol)")
    args = ap.parse_args()

    from forensics import Detector
    from forensics.training.data import scale_saturation

    first_model = Detector.load(str(args.runs[0]).split("+")[0], device="cpu")  # the files are its config's
    _, pix, reals, fakes, degraded = card_inputs(first_model.config, args.per_source,
                                                 prepare=(lambda rgb: scale_saturation(rgb, 0.0)) if args.grey else None)
    subset = [f.strip() for f in args.compare_sets.split(",")] if args.compare_sets else []
    unknown = [f for f in subset if f not in fakes]
    if unknown:
        ap.error(f"--compare-sets: no fake set {', '.join(unknown)} on the card (sets: {', '.join(fakes)})")
    first = first_fig = None
    cache: dict = {}
    for run in args.runs:
        row, scores, fig = screen(run, pix, degraded, reals, fakes, args.aggregation, args.target_fpr, cache)
        if args.grey:
            row["inputs"] = "grey"
        if first is None:
            first, first_fig = scores, fig
        else:
            row["vs_first"] = versus(first, scores, reals, fakes)
            row["blockers"] = ship_blockers(first_fig, {**fig, "vs_shipped": row["vs_first"]}, args.target_fpr)
            if subset:
                row["vs_first_on"] = {"sets": subset, **versus(first, scores, reals, subset)}
        print(f"{row['model']} ({run}{', grey inputs' if args.grey else ''}): threshold {row['threshold']:.6f}, mean AP {row['mean_ap_clean']:.6f} clean / "
              f"{row['mean_ap_jpeg75_resize0.5']:.4f} JPEG75+0.5x, worst FPR {row['worst_real_fpr']:.3f} (control "
              f"{row['worst_control_fpr']:.3f}, colour filters {row['worst_colour_fpr']:.3f}), "
              f"ECE {row['ece_clean']:.3f} / {row['ece_jpeg75_resize0.5']:.3f}, "
              f"held-out false positives {row['held_out_false_positives']}", flush=True)
        if "vs_first" in row:
            print("    minus the first run's, with 95% paired bootstrap interval: " + "; ".join(
                f"{c} {interval_text(v)}" for c, v in row["vs_first"].items()),
                flush=True)
            if "vs_first_on" in row:
                print(f"    on {', '.join(subset)} alone: " + "; ".join(
                    f"{c} {interval_text(v)}" for c, v in row["vs_first_on"].items() if c != "sets"), flush=True)
            print("    replaces the first run under the card's rule: "
                  + (f"no ({', '.join(row['blockers'])})" if row["blockers"] else "yes"), flush=True)
        if args.json:
            with args.json.open("a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
