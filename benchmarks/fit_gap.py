"""How well a detector fits the images it trained on against held-back ones, clean and re-encoded.

    python benchmarks/fit_gap.py --model forensics/weights/patch --per-source 80

For each fake source of the model's recipe and the pooled real sources: AP (that fake set against the pooled
reals of the same split) on training-split files and on held-back validation files (the card's evenly spaced
subsample), clean and after JPEG 75 + 0.5x of both classes, scored whole as `forensics scan` scores them.
A set whose training files rank far better than its held-back files is learnt by heart (its figures say how
much more data, not a bigger head, would buy); a set whose training files rank no better is not fit at all.
Writes reports/fit_gap.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch_card.scoring import val_files  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPLITS = ("train", "val")
CONDITIONS = ("clean", "jpeg75_resize0.5")


def gap_figures(scores: dict, labels: dict[str, int]) -> dict:
    """{fake set: {split: {condition: AP}}} and the pooled reals' median score per split and condition,
    from `scores[split][condition][source] = image scores`."""
    from forensics.metrics import mean_ap

    reals = [n for n, lab in labels.items() if lab == 0]
    fakes = [n for n, lab in labels.items() if lab == 1]
    out: dict = {"ap": {}, "real_median": {}}
    for split in SPLITS:
        out["real_median"][split] = {}
        for cond in CONDITIONS:
            sets = scores[split][cond]
            present = [n for n in reals if len(sets.get(n, ()))]
            out["real_median"][split][cond] = float(np.median(np.concatenate([sets[n] for n in present])))
            for f in fakes:
                if len(sets.get(f, ())):
                    out["ap"].setdefault(f, {}).setdefault(split, {})[cond] = mean_ap(sets, present, [f])
    return out


def score_sets(det, files: dict[str, tuple[int, list[Path]]], degrade: Callable[[np.ndarray], np.ndarray]) -> dict:
    """{condition: {source: image scores}} of the files, clean and degraded."""
    from forensics.decoding import load_image

    out: dict = {c: {} for c in CONDITIONS}
    for name, (_, paths) in files.items():
        pix = [load_image(p).rgb for p in paths]
        out["clean"][name] = np.array([r.score for r in det.scan_many(pix, batch_size=4, provenance=False)])
        out["jpeg75_resize0.5"][name] = np.array(
            [r.score for r in det.scan_many([degrade(a) for a in pix], batch_size=4, provenance=False)])
    return out


def write_report(fig: dict, path: Path) -> None:
    L = [f"# Fit gap: `{fig['model']}` on its training files against held-back files", "",
         "Produced by `python benchmarks/fit_gap.py` "
         f"(at most {fig['per_source']} evenly spaced files per source and split; both classes scored whole, "
         "clean and after JPEG 75 + 0.5x). AP of each fake set against the pooled reals of the same split.", "",
         "| fake set | n train / held back | AP train clean | AP held back clean | AP train JPEG75+0.5x | "
         "AP held back JPEG75+0.5x | gap JPEG75+0.5x |", "|---|---|---|---|---|---|---|"]
    for f, v in fig["ap"].items():
        n = fig["n"][f]
        L.append(f"| {f} | {n['train']} / {n['val']} | {v['train']['clean']:.3f} | {v['val']['clean']:.3f} | "
                 f"{v['train']['jpeg75_resize0.5']:.3f} | {v['val']['jpeg75_resize0.5']:.3f} | "
                 f"{v['train']['jpeg75_resize0.5'] - v['val']['jpeg75_resize0.5']:+.3f} |")
    med = fig["real_median"]
    L += ["", f"Median real score (pooled reals): train {med['train']['clean']:.3f} clean / "
          f"{med['train']['jpeg75_resize0.5']:.3f} re-encoded; held back {med['val']['clean']:.3f} / "
          f"{med['val']['jpeg75_resize0.5']:.3f}.", "",
          "A set far better ranked on its training files than on held-back ones after re-encoding is learnt by "
          "heart: the model fits those images but not what they share with new ones. Small held-back sets "
          "(a few dozen files) move by several hundredths from one file.", ""]
    path.write_text("\n".join(L))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "forensics" / "weights" / "patch"))
    ap.add_argument("--per-source", type=int, default=80)
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "fit_gap")
    args = ap.parse_args()

    from forensics import Detector
    from forensics.perturb import parse_perturbation

    det = Detector.load(args.model, device="cpu")
    degrade = parse_perturbation("jpeg:75+resize:0.5")
    files = {split: val_files(det.config, args.per_source, split) for split in SPLITS}
    missing = [n for n in files["val"] if not files["train"].get(n)]
    if missing:
        sys.exit(f"error: no training files for {', '.join(missing)} (is ../shared/data there?)")
    scores = {split: score_sets(det, files[split], degrade) for split in SPLITS}
    labels = {n: lab for n, (lab, _) in files["val"].items()}
    fig = {"model": det.model_id, "per_source": args.per_source, **gap_figures(scores, labels),
           "n": {n: {s: len(files[s][n][1]) for s in SPLITS} for n, lab in labels.items() if lab == 1}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(fig, indent=1))
    write_report(fig, args.out.with_suffix(".md"))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
