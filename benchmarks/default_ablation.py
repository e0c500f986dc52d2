"""Choose the default detector by measurement: architecture comparison and leave-one-source-out.

    python benchmarks/default_ablation.py                 # every variant, short budget
    python benchmarks/default_ablation.py --only loso     # just the leave-one-source-out runs

Each variant is the default recipe (configs/default_detector.json) with one change, trained for a
short, equal budget; all are scored on the same held-back validation files of EVERY source
(including a left-out fake source) at native resolution. The threshold per variant is the largest
per-real-source threshold giving 1% FPR. Writes reports/default_ablation.md/.json; reruns resume
from runs/ablation/rows.json, so the study can be continued across sessions.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from patch_card.scoring import score_arrays, val_files  # noqa: E402

ARCH_VARIANTS = {
    "resnet18_layer1+residual (stage-1 recipe)": {},
    "resnet18_layer1, no input filter": {"input_filter": "none"},
    "resnet18_layer2+residual": {"arch": "resnet18_layer2"},
    "legacy_xception_block2+residual": {"arch": "legacy_xception_block2"},
    "resnet18_full+residual (whole-image)": {"arch": "resnet18_full"},
    "resnet18_layer2_slim+residual (the fast model's cut)": {"arch": "resnet18_layer2_slim"},
    "resnet18_layer3_slim+residual (the default's cut)": {"arch": "resnet18_layer3_slim"},
    "resnet18_layer2_slim+residual, 30% small batches": {"arch": "resnet18_layer2_slim", "small_fraction": 0.3},
}


BASELINE = next(iter(ARCH_VARIANTS))  # the stage-1 recipe unchanged; leave-one-out runs change only the data


def variants(recipe: dict) -> dict[str, dict]:
    out = {f"arch: {k}": v for k, v in ARCH_VARIANTS.items()}
    for fake in recipe["fake"]:
        out[f"loso: without {Path(fake).name}"] = {"fake": [f for f in recipe["fake"] if f != fake],
                                                   "left_out": fake}
    return out


def run_variant(name: str, change: dict, recipe: dict, args) -> dict:
    from forensics import Detector
    from forensics.calibrate import threshold_for_fpr
    from forensics.decoding import load_image
    from forensics.metrics import binary_metrics
    from forensics.models import build_model, parameter_count
    from forensics.training.train import TrainConfig, train

    slug = "".join(c if c.isalnum() else "_" for c in name)[:60]
    cfg = {**recipe, **{k: v for k, v in change.items() if k != "left_out"},
           "epochs": args.epochs, "steps_per_epoch": args.steps, "patience": 99, "progress": False,
           "out": str(args.work / slug), "model_id": slug}
    t0 = time.time()
    run = train(TrainConfig(**cfg))
    seconds = time.time() - t0
    det = Detector.load(run, device="cpu")
    sets = val_files(det.config | {"training": {**det.config["training"], "fake": recipe["fake"]}}, args.per_source)
    scores = {n: score_arrays(det, [load_image(f).rgb for f in files]) for n, (_, files) in sets.items()}
    reals = [n for n, (lab, _) in sets.items() if lab == 0]
    fakes = [n for n, (lab, _) in sets.items() if lab == 1]
    threshold = max(threshold_for_fpr(scores[n], 0.01) for n in reals)
    real_all = np.concatenate([scores[n] for n in reals])
    ap = {n: binary_metrics(np.r_[np.zeros(real_all.size), np.ones(scores[n].size)],
                            np.r_[real_all, scores[n]])["ap"] for n in fakes}
    left_out = change.get("left_out")
    return {"change": {k: v for k, v in change.items()}, "ap": ap, "threshold": threshold,
            "fpr_at_0.5": {n: float((scores[n] >= 0.5).mean()) for n in reals},
            "tpr_at_threshold": {n: float((scores[n] >= threshold).mean()) for n in fakes},
            "left_out_source": next((n for n in fakes if left_out and n.endswith(Path(left_out).name)), None),
            "train_seconds": round(seconds, 1),
            # counted on the trained network: the loaded detector has its BatchNorm folded into the convs
            "params": parameter_count(build_model(cfg["arch"], input_filter=cfg.get("input_filter") or "none"))}


def write_report(rows: dict, args) -> None:
    lines = ["# Default detector: architecture comparison and leave-one-source-out", "",
             f"Produced by `python benchmarks/default_ablation.py --epochs {args.epochs} --steps {args.steps}`: each "
             "variant is the stage-1 recipe (`configs/default_detector.json`) with one change, trained for the same short budget "
             f"({args.epochs} x {args.steps} steps of batch 32 on the CPU), scored on the same held-back validation "
             f"files of every source ({args.per_source} per source, native resolution). AP: fake = positive, "
             "against all real validation files. TPR at a threshold giving <= 1% FPR on every real source.", ""]
    arch_rows = {k: v for k, v in rows.items() if k.startswith("arch: ")}
    if arch_rows:
        fakes = list(next(iter(arch_rows.values()))["ap"])
        lines += ["## Architecture and input filter", "",
                  "| variant | params | mean AP | min AP | mean TPR @1% FPR | max real FPR @0.5 | train s |",
                  "|---|---|---|---|---|---|---|"]
        for k, r in arch_rows.items():
            ap = np.array([r["ap"][f] for f in fakes])
            tpr = np.mean(list(r["tpr_at_threshold"].values()))
            lines.append(f"| {k[6:]} | {r['params']:,} | {ap.mean():.3f} | {ap.min():.3f} | {tpr:.3f} | "
                         f"{max(r['fpr_at_0.5'].values()):.3f} | {r['train_seconds']} |")
        lines += ["", "Per fake source AP:", "", "| variant | " + " | ".join(fakes) + " |",
                  "|---|" + "---|" * len(fakes)]
        for k, r in arch_rows.items():
            lines.append(f"| {k[6:]} | " + " | ".join(f"{r['ap'][f]:.3f}" for f in fakes) + " |")
    loso = {k: v for k, v in rows.items() if k.startswith("loso: ")}
    if loso:
        base = rows.get(f"arch: {BASELINE}")
        lines += ["", "## Leave one fake source out", "",
                  "Trained without the source, tested on its validation files vs every real source.", "",
                  "| left out | AP when unseen | AP when trained on (stage-1 recipe) | TPR @1% FPR unseen |",
                  "|---|---|---|---|"]
        for k, r in loso.items():
            s = r["left_out_source"]
            seen = f"{base['ap'][s]:.3f}" if base and s in base["ap"] else "-"
            lines.append(f"| {s} | {r['ap'][s]:.3f} | {seen} | {r['tpr_at_threshold'][s]:.3f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "default_ablation.md").write_text("\n".join(lines) + "\n")
    (args.out / "default_ablation.json").write_text(json.dumps(
        {"epochs": args.epochs, "steps": args.steps, "per_source": args.per_source, "rows": rows}, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "default_detector.json")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--per-source", type=int, default=60)
    ap.add_argument("--only", choices=["arch", "loso"], default=None)
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "ablation")
    ap.add_argument("--out", type=Path, default=REPO / "reports")
    args = ap.parse_args()

    recipe = json.loads(args.config.read_text())
    args.work.mkdir(parents=True, exist_ok=True)
    done = args.work / "rows.json"
    committed = args.out / "default_ablation.json"  # the committed report carries the rows across sessions
    rows = json.loads(done.read_text()) if done.is_file() else \
        json.loads(committed.read_text())["rows"] if committed.is_file() else {}
    for name, change in variants(recipe).items():
        if args.only and not name.startswith(args.only):
            continue
        if name not in rows:
            rows[name] = run_variant(name, change, recipe, args)
            done.write_text(json.dumps(rows, indent=1))
            write_report(rows, args)
        print(name, json.dumps({k: round(v, 3) for k, v in rows[name]["ap"].items()}), flush=True)
    write_report(rows, args)


if __name__ == "__main__":
    main()
