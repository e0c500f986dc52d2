"""Reproduce the reference study's central table with the bundled generators.

Train a detector on ONE generator's fakes (vs matched CelebA reals) for several truncation depths
and a full-image model, then measure AP (fake = positive) on every other generator's fakes.
Writes reports/cross_generator.md, reports/cross_generator.json and reports/cross_generator.png.

    python benchmarks/cross_generator.py --train-on progan --steps 300
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def prepare(work: Path, size: int, n_gen: int, native: int) -> dict[str, dict[str, Path]]:
    import generators

    from forensics.matched import prepare_generator_set, prepare_real_set, prepare_resized_set

    sets: dict[str, dict[str, Path]] = {"real": {
        "train": prepare_real_set(DATA / "real/celeba/train", work / "real_train", native=native, size=size, limit=1500),
        "test": prepare_real_set(DATA / "real/celeba/val", work / "real_test", native=native, size=size, limit=300),
    }}
    for name in generators.list_generators():
        if not (generators.default_weights_dir(name) / "config.json").is_file():
            continue
        full = prepare_generator_set(name, work / f"gen_{name}", n=n_gen, size=size)
        sets[name] = {"all": full}
    web = DATA / "fake/web-stylegan-faces"
    if web.is_dir():  # an external StyleGAN-family set, resized straight to `size` (not through `native`)
        sets["web-stylegan"] = {"all": prepare_resized_set(web, work / "web_stylegan", size=size)}
    for name, d in sets.items():
        if "all" in d:
            files = sorted(d["all"].glob("*.png"))
            cut = int(len(files) * 0.7)
            for split, chunk in (("train", files[:cut]), ("test", files[cut:])):
                sd = work / f"{name}_{split}"
                sd.mkdir(exist_ok=True)
                for f in chunk:
                    link = sd / f.name
                    if not link.exists():
                        link.symlink_to(f)
                d[split] = sd
    return sets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train-on", default="progan")
    ap.add_argument("--archs", default="resnet18_layer1,resnet18_layer2,legacy_xception_block2,resnet18_full")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--native", type=int, default=32, help="resolution the generators were trained at")
    ap.add_argument("--n-gen", type=int, default=600)
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "cross_generator")
    ap.add_argument("--out", type=Path, default=REPO / "reports")
    args = ap.parse_args()

    from forensics import Detector
    from forensics.evaluate import evaluate, strip_scores
    from forensics.train import TrainConfig, train

    sets = prepare(args.work, args.size, args.n_gen, args.native)
    test_fakes = {n: d["test"] for n, d in sets.items() if n != "real"}
    rows = {}
    for arch in args.archs.split(","):
        out = args.work / f"run_{args.train_on}_{arch}"
        t0 = time.time()
        epochs = max(1, args.steps // 100)
        train(TrainConfig(real=[str(sets["real"]["train"])], fake=[str(sets[args.train_on]["train"])],
                          val_real=[str(sets["real"]["test"])], val_fake=[str(sets[args.train_on]["test"])],
                          out=str(out), arch=arch, epochs=epochs, steps_per_epoch=100, batch_size=32,
                          size=args.size, val_size=args.size, augment="flip", patience=99, workers=1,
                          progress=False, device="cpu"))
        det = Detector.load(out, device="cpu")
        res = strip_scores(evaluate(det, [sets["real"]["test"]], test_fakes, progress=False))
        rows[arch] = {"ap": {n: m["ap"] for n, m in res["conditions"]["clean"]["fake_sets"].items()},
                      "receptive_field": det.describe()["receptive_field"] or "full image",
                      "train_seconds": round(time.time() - t0, 1)}
        print(arch, json.dumps(rows[arch]["ap"]), flush=True)
    write_report(rows, args, list(test_fakes))


def write_report(rows: dict, args, sets: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cross_generator.json").write_text(json.dumps({"train_on": args.train_on, "steps": args.steps,
                                                               "size": args.size, "rows": rows}, indent=2))
    archs = list(rows)
    mat = np.array([[rows[a]["ap"][s] for s in sets] for a in archs])
    fig, ax = plt.subplots(figsize=(1.3 * len(sets) + 3, 0.6 * len(archs) + 1.8))
    im = ax.imshow(mat, vmin=0.5, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(len(sets)), sets, rotation=30, ha="right")
    ax.set_yticks(range(len(archs)), archs)
    for i in range(len(archs)):
        for j in range(len(sets)):
            ax.text(j, i, f"{mat[i, j]:.3f}", ha="center", va="center", color="w" if mat[i, j] < 0.8 else "k", fontsize=8)
    ax.set_title(f"AP (fake = positive); trained on {args.train_on} vs CelebA")
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    fig.savefig(args.out / "cross_generator.png", dpi=110)
    lines = [f"# Cross-generator generalisation (bundled generators)", "",
             f"Produced by `python benchmarks/cross_generator.py --train-on {args.train_on} --steps {args.steps}`.",
             f"Detectors trained on **{args.train_on}** fakes vs CelebA reals, both through the same path "
             f"(centre square, Lanczos to {args.native} px, bicubic to {args.size} px, PNG); {args.steps} steps of "
             "batch 32, Adam 1e-3, flip augmentation, CPU. Test: held-out samples of every set vs held-out CelebA "
             "reals through the same path. `web-stylegan` is an external set resized straight to "
             f"{args.size} px (a different resize history from the reals, so read it with care).", "",
             "| architecture | receptive field | " + " | ".join(sets) + " | train s |",
             "|---|---|" + "---|" * len(sets) + "---|"]
    for a in archs:
        lines.append(f"| {a} | {rows[a]['receptive_field']} | " + " | ".join(f"{rows[a]['ap'][s]:.3f}" for s in sets)
                     + f" | {rows[a]['train_seconds']} |")
    lines += ["", "![cross-generator AP](cross_generator.png)", ""]
    (args.out / "cross_generator.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
