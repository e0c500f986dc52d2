"""Fit the rendered-graphic cue (`forensics.graphic_cue`) and report how it does on images it never saw.

    python benchmarks/fit_graphic_cue.py      # writes forensics/weights/graphic_cue.json, reports/graphic_cue.{json,md}

Fitted on the training split (not the detectors' validation split) of the shipped default's real and
generated sources, at most `--per-source` images each, every third one turned grey (the training photos
are colour; grayscale photos must not look rendered), against the training split of the procedural
graphics in runs/data/rendered_graphics (`benchmarks/prepare_default_data.py`; their grey copies too).
Reported on held-out images only: the card's validation files of every source, clean and after JPEG 75
+ 0.5x; the graphics' validation split; matplotlib charts (a renderer the fit never saw) as PNG and JPEG
q90; the rendered graphics and camera photos that scikit-image and scikit-learn ship
(`outside_reals.py`). With the default detector's scores, it also says how many held-out graphics the
detector calls fake and how many of those the scan note qualifies.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch_card.scoring import REPO, card_inputs, score_arrays  # noqa: E402
from outside_reals import COLOUR_PHOTOS, GRAY_PHOTOS, RENDERED_GRAPHICS, load_group  # noqa: E402

RECIPE = REPO / "configs" / "default_detector_v28_saturation.json"  # the shipped default's sources
GRAPHICS = REPO / "runs" / "data" / "rendered_graphics"
NOTE_FROM = 0.8  # P(rendered) from which a scan notes it (how it was chosen: the report)
CHARTS = 40


def training_features(recipe: dict, graphics: Path, per_source: int, val_fraction: float,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features, labels (1 = rendered) and source names of the fit's images: at most `per_source`
    training-split images per recipe source (all of the graphics' training split), every third grey."""
    from forensics.training.data import in_validation, list_images, scale_saturation
    from forensics.decoding import load_image
    from forensics.graphic_cue import graphic_features

    rng = np.random.default_rng(seed)
    folders = [(REPO / d, 0, per_source) for d in recipe["real"] + recipe["fake"]] + [(graphics, 1, None)]
    X, y, names = [], [], []
    for folder, label, limit in folders:
        files = [f for f in list_images(folder) if not in_validation(f, val_fraction)]
        if not files:
            raise SystemExit(f"error: {folder} holds no training images (run benchmarks/prepare_default_data.py)")
        chosen = [files[i] for i in sorted(rng.permutation(len(files))[:limit])]
        for k, f in enumerate(chosen):
            rgb = load_image(f).rgb
            X.append(graphic_features(scale_saturation(rgb, 0.0) if k % 3 == 0 else rgb))  # grey, as training does
            y.append(label)
            names.append(folder.name)
    return np.array(X), np.array(y), names


def fit_cue(X: np.ndarray, y: np.ndarray, threshold: float, fitted_on: str):
    """Standardise, then a class-balanced logistic regression: a `GraphicCue`."""
    from sklearn.linear_model import LogisticRegression

    from forensics.graphic_cue import GraphicCue

    mean, scale = X.mean(0), X.std(0)
    scale[scale == 0] = 1.0
    clf = LogisticRegression(class_weight="balanced", max_iter=5000).fit((X - mean) / scale, y)
    return GraphicCue(tuple(mean), tuple(scale), tuple(clf.coef_[0]), float(clf.intercept_[0]), threshold, fitted_on)


def chart(seed: int) -> np.ndarray:
    """One matplotlib chart (bar, line, pie, scatter or histogram) of random size and resolution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    rng = np.random.default_rng(seed)
    kind = ("bar", "line", "pie", "scatter", "hist")[seed % 5]
    fig, ax = plt.subplots(figsize=(rng.uniform(3, 6), rng.uniform(2.5, 5)), dpi=int(rng.integers(60, 120)))
    if kind == "bar":
        ax.bar(range(6), rng.uniform(1, 10, 6), color=plt.cm.tab10(int(rng.integers(0, 10))))
    elif kind == "line":
        for _ in range(3):
            ax.plot(np.cumsum(rng.normal(size=50)))
    elif kind == "pie":
        ax.pie(rng.uniform(1, 5, 5), labels=list("ABCDE"))
    elif kind == "scatter":
        ax.scatter(rng.normal(size=80), rng.normal(size=80), c=rng.uniform(size=80))
    else:
        ax.hist(rng.normal(size=500), bins=20)
    ax.grid(bool(rng.random() < 0.5))
    ax.set_title(f"Figure {seed}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return np.asarray(Image.open(buf).convert("RGB"))


def probabilities(cue, images) -> np.ndarray:
    """The cue's P(rendered) of each image (images too small for the cue left out)."""
    return np.array([q for q in (cue.probability(a) for a in images) if q is not None])


def noted(p: np.ndarray, threshold: float) -> dict:
    """How many of the probabilities `p` reach the note's `threshold`, the share's 95% upper bound, and
    the probabilities' range."""
    from forensics.metrics import rate_upper_bound

    k = int((p >= threshold).sum())
    return {"n": int(p.size), "noted": k, "share": k / p.size, "upper95": rate_upper_bound(k, p.size),
            "min": float(p.min()), "median": float(np.median(p)), "max": float(p.max())}


def held_out_figures(cue, val_fraction: float, per_source: Optional[int] = None) -> dict:
    """The cue on held-out images (every validation file of each source, or `per_source` of them; the
    graphics' validation split at `val_fraction`), and the default detector on the held-out graphics."""
    from forensics import Detector
    from forensics.data import in_validation, list_images
    from forensics.decoding import load_image
    from forensics.stability import jpeg

    det = Detector.load(REPO / "forensics" / "weights" / "patch", device="cpu")
    _, pix, reals, fakes, degraded = card_inputs(det.config, per_source or 10 ** 9)
    t = cue.threshold
    out: dict = {"validation": {n: noted(probabilities(cue, arrs), t) for n, (_, arrs) in pix.items()},
                 "validation_jpeg75_resize0.5": {n: noted(probabilities(cue, a), t)
                                                 for n, a in degraded["jpeg75_resize0.5"].items()}}
    graphics_val = [load_image(f).rgb for f in list_images(GRAPHICS) if in_validation(f, val_fraction)]
    charts = [chart(s) for s in range(CHARTS)]
    packaged = load_group(RENDERED_GRAPHICS)
    photos = {**load_group(COLOUR_PHOTOS), **load_group(GRAY_PHOTOS)}
    p_charts, p_packaged = probabilities(cue, charts), probabilities(cue, list(packaged.values()))
    p_photos = probabilities(cue, list(photos.values()))
    out["graphics"] = {"procedural graphics (validation split)": noted(probabilities(cue, graphics_val), t),
                       "matplotlib charts": noted(p_charts, t),
                       "matplotlib charts, JPEG q90": noted(probabilities(cue, [jpeg(c, 90) for c in charts]), t),
                       "matplotlib charts, JPEG q75": noted(probabilities(cue, [jpeg(c, 75) for c in charts]), t),
                       "scikit-image graphics": noted(p_packaged, t),
                       "scikit-image graphics, JPEG q90": noted(
                           probabilities(cue, [jpeg(g, 90) for g in packaged.values()]), t)}
    out["outside_photos"] = noted(p_photos, t)
    out["per_image"] = {**dict(zip(packaged, map(float, p_packaged))), **dict(zip(photos, map(float, p_photos)))}
    out["detector"] = {"model": det.model_id, "threshold": det.threshold}
    for name, images, probs in (("matplotlib charts", charts, p_charts),
                                ("scikit-image graphics", list(packaged.values()), p_packaged)):
        scores = score_arrays(det, images)
        fake = scores >= det.threshold
        out["detector"][name] = {"n": len(images), "called_fake": int(fake.sum()),
                                 "called_fake_and_noted": int((fake & (probs >= t)).sum()),
                                 "max_score": float(scores.max())}
    out["cost"] = cost_figures(cue, det)
    return out


def cost_figures(cue, det, sizes=(256, 1024), rounds: int = 10) -> dict:
    """Milliseconds per image of the cue and of the detector's scan at each size, measured in one run
    (random pixels: the cue's statistics cost the same on any content of a size)."""
    import time

    rng = np.random.default_rng(0)
    out = {}
    for size in sizes:
        rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        det.scan(rgb, provenance=False)  # warm-up

        def per_image(fn) -> float:
            t0 = time.perf_counter()
            for _ in range(rounds):
                fn(rgb)
            return (time.perf_counter() - t0) / rounds * 1000

        cue_ms, scan_ms = per_image(cue.probability), per_image(lambda a: det.scan(a, provenance=False))
        out[str(size)] = {"cue_ms": cue_ms, "scan_ms": scan_ms, "ratio": cue_ms / scan_ms}
    return out


def write_report(fig: dict, cue, path: Path) -> None:
    def row(name: str, v: dict, bound: bool = False) -> str:
        upper = f", at most {v['upper95']:.1%}" if bound else ""
        return f"| {name} | {v['n']} | {v['noted']} ({v['share']:.1%}{upper}) | {v['median']:.3f} | {v['max']:.3f} |"

    lines = ["# Rendered-graphic cue", "",
             "Written by `python benchmarks/fit_graphic_cue.py`. The cue (`forensics/graphic_cue.py`) adds a note to a "
             "scan that is called fake or near threshold when the image looks rendered (a logo, chart, banner or "
             "test pattern) rather than photographed; it never changes a score or a verdict.", "",
             f"Fitted on: {cue.fitted_on}. A scan notes it from P(rendered) >= {cue.threshold:g}; every figure "
             "below is on images the fit never saw."
             + (" The note's threshold (0.8) was fixed after an exploratory fit of the same kind had been looked at "
                "on these held-out sets at 0.5 and 0.9, where they came out the same but for the colour wheel "
                "(0.91), so these figures are not entirely blind to that choice." if cue.threshold == NOTE_FROM else ""),
             "",
             "## Rendered graphics (the note should appear)", "",
             "| set | images | noted | median P | max P |", "|---|---|---|---|---|"]
    lines += [row(n, v) for n, v in fig["graphics"].items()]
    lines += ["", "## Photographs and generated images (the note should not appear)", "",
              "Every validation file of each source the detectors train on (none was in the fit), and the camera "
              "photos that scikit-image and scikit-learn ship; 'at most': the 95% upper bound on the share.", "",
              "| set | images | noted | median P | max P |", "|---|---|---|---|---|"]
    lines += [row(f"{n} (clean)", v, True) for n, v in fig["validation"].items()]
    lines += [row(f"{n} (JPEG 75 + 0.5x)", v, True) for n, v in fig["validation_jpeg75_resize0.5"].items()]
    lines += [row("camera photos shipped by scikit-image / scikit-learn", fig["outside_photos"], True)]
    d = fig["detector"]
    lines += ["", f"## What the note qualifies: `{d['model']}` (threshold {d['threshold']:.6f}) on the held-out graphics", "",
              "| set | images | called fake | called fake and noted | highest score |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {v['n']} | {v['called_fake']} | {v['called_fake_and_noted']} | {v['max_score']:.3f} |"
              for n, v in d.items() if isinstance(v, dict)]
    lines += ["", "## Cost", "", "Scans compute the cue only for fake and near-threshold verdicts. Milliseconds per image on "
              "this machine's CPU, the cue and a single-image scan with the default detector measured in one run:", "",
              "| size | cue | scan | cue / scan |", "|---|---|---|---|"]
    lines += [f"| {size} px | {v['cue_ms']:.1f} | {v['scan_ms']:.1f} | {v['ratio']:.2f} |" for size, v in fig["cost"].items()]
    lines += ["", "## Per image (scikit-image and scikit-learn files)", "", "| file | P(rendered) |", "|---|---|"]
    lines += [f"| {n} | {p:.3f} |" for n, p in fig["per_image"].items() if p is not None]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-source", type=int, default=80, help="training images per recipe source")
    ap.add_argument("--threshold", type=float, default=NOTE_FROM)
    ap.add_argument("--eval-per-source", type=int, default=None,
                    help="validation files scored per source (default: every one)")
    ap.add_argument("--out", type=Path, default=REPO / "forensics" / "weights" / "graphic_cue.json")
    ap.add_argument("--report", type=Path, default=REPO / "reports" / "graphic_cue.md")
    args = ap.parse_args()

    recipe = json.loads(RECIPE.read_text())
    X, y, names = training_features(recipe, GRAPHICS, args.per_source, recipe["val_fraction"])
    fitted_on = (f"{int((y == 0).sum())} training-split photos and generated images of the default recipe's "
                 f"{len(set(n for n, lab in zip(names, y) if lab == 0))} sources against {int(y.sum())} procedural "
                 "graphics (every third image of each source turned grey)")
    cue = fit_cue(X, y, args.threshold, fitted_on)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(cue.to_json(), indent=2) + "\n")
    tmp.replace(args.out)
    fig = held_out_figures(cue, recipe["val_fraction"], args.eval_per_source)
    args.report.with_suffix(".json").write_text(json.dumps(fig, indent=1) + "\n")
    write_report(fig, cue, args.report)
    g = fig["graphics"]
    print(f"{args.out}: noted {g['matplotlib charts']['noted']}/{g['matplotlib charts']['n']} charts, "
          f"{g['scikit-image graphics']['noted']}/{g['scikit-image graphics']['n']} scikit-image graphics, "
          f"{fig['outside_photos']['noted']}/{fig['outside_photos']['n']} outside photos; report {args.report}")


if __name__ == "__main__":
    main()
