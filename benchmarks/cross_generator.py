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


def prepare(work: Path, size: int, n_gen: int, native: int, reuse: Path) -> dict[str, dict[str, Path]]:
    """Matched sets; samples already made by benchmarks/prepare_default_data.py (same path) are reused."""
    import generators

    from forensics.training.matched import prepare_generator_set, prepare_real_set, prepare_resized_set

    def made(name: str) -> Path | None:
        d = reuse / name
        return d if d.is_dir() and len(list(d.glob("*.png"))) >= min(n_gen, 300) and size == 128 else None

    sets: dict[str, dict[str, Path]] = {"real": {
        "train": made(f"real_celeba{native}to{size}") or prepare_real_set(
            DATA / "real/celeba/train", work / "real_train", native=native, size=size, limit=1500),
        "test": prepare_real_set(DATA / "real/celeba/val", work / "real_test", native=native, size=size, limit=300),
    }}
    for name in generators.list_generators():
        if not (generators.default_weights_dir(name) / "config.json").is_file():
            continue
        full = made(f"gen_{name}") or prepare_generator_set(name, work / f"gen_{name}", n=n_gen, size=size)
        sets[name] = {"all": full}
    web = DATA / "fake/web-stylegan-faces"
    if web.is_dir():  # an external StyleGAN-family set, resized straight to `size` (not through `native`)
        sets["web-stylegan"] = {"all": prepare_resized_set(web, work / "web_stylegan", size=size)}
    for name, d in sets.items():
        if "all" in d:
            files = sorted(d["all"].glob("*.png"))[:n_gen]
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


def train_and_score(sets: dict, train_on: str, arch: str, args) -> dict:
    """Train `arch` on one set's fakes vs the real train split; AP on every set's test split."""
    from forensics import Detector
    from forensics.evaluate import evaluate, strip_scores
    from forensics.training.train import TrainConfig, train

    out = args.work / f"run_{train_on}_{arch}"
    t0 = time.time()
    train(TrainConfig(real=[str(sets["real"]["train"])], fake=[str(sets[train_on]["train"])],
                      val_real=[str(sets["real"]["test"])], val_fake=[str(sets[train_on]["test"])],
                      out=str(out), arch=arch, epochs=max(1, args.steps // 100), steps_per_epoch=100,
                      batch_size=32, size=args.crop, val_size=args.size, augment="flip", patience=99,
                      workers=1, progress=False, device="cpu", seed=args.seed))
    det = Detector.load(out, device="cpu")
    test_fakes = {n: d["test"] for n, d in sets.items() if n != "real"}
    res = strip_scores(evaluate(det, [sets["real"]["test"]], test_fakes, progress=False))
    return {"ap": {n: m["ap"] for n, m in res["conditions"]["clean"]["fake_sets"].items()},
            "receptive_field": det.describe()["receptive_field"] or "full image",
            "train_seconds": round(time.time() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train-on", default="progan,dcgan,stylegan,glow,gmm,diffusion",
                    help="comma list of generators to train on (one detector per generator and arch)")
    ap.add_argument("--archs", default="resnet18_layer1,resnet18_layer2,legacy_xception_block2,resnet18_full")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--size", type=int, default=128, help="image size of every matched set")
    ap.add_argument("--crop", type=int, default=64, help="training crop size")
    ap.add_argument("--reuse", type=Path, default=REPO / "runs" / "data",
                    help="sets made by prepare_default_data.py at --size 128 are reused")
    ap.add_argument("--native", type=int, default=32, help="resolution the generators were trained at")
    ap.add_argument("--n-gen", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report-only", action="store_true", help="write the report from the finished rows only")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "cross_generator")
    ap.add_argument("--out", type=Path, default=REPO / "reports")
    args = ap.parse_args()

    sets = prepare(args.work, args.size, args.n_gen, args.native, args.reuse)
    train_on = [g for g in args.train_on.split(",") if g in sets]
    missing = sorted(set(args.train_on.split(",")) - set(train_on))
    if missing:
        print(f"no weights/samples for {', '.join(missing)}: skipped", flush=True)
    done_file = args.work / "rows.json"  # rerunning resumes: finished (generator, arch) pairs are kept
    rows = json.loads(done_file.read_text()) if done_file.is_file() else {}
    if args.report_only:  # e.g. while a long run is still going: only generators with every arch done
        train_on = [g for g in train_on if all(f"{g}|{a}" in rows for a in args.archs.split(","))]
    for gen in train_on:
        for arch in args.archs.split(","):
            key = f"{gen}|{arch}"
            if key not in rows:
                rows[key] = train_and_score(sets, gen, arch, args)
                done_file.write_text(json.dumps(rows, indent=1))
            print(key, json.dumps(rows[key]["ap"]), flush=True)
    write_report(rows, args, train_on, args.archs.split(","), [n for n in sets if n != "real"])


def _unseen_mean(rows: dict, gen: str, arch: str, sets: list[str], exclude_web: bool = False) -> float:
    aps = [v for s, v in rows[f"{gen}|{arch}"]["ap"].items() if s != gen and not (exclude_web and s == "web-stylegan")]
    return float(np.mean(aps)) if aps else float("nan")


def _chance_ap(args) -> float:
    """AP of a detector that guesses: the fake fraction of a test split (30% of n_gen vs the real test set)."""
    fakes = min(args.n_gen, 600) - int(min(args.n_gen, 600) * 0.7)
    reals = len(list((args.work / "real_test").glob("*.png"))) or 300
    return fakes / (fakes + reals)


def write_report(rows: dict, args, train_on: list[str], archs: list[str], sets: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cross_generator.json").write_text(json.dumps(
        {"train_on": train_on, "archs": archs, "steps": args.steps, "size": args.size, "seed": args.seed,
         "rows": rows}, indent=2))
    fig, axes = plt.subplots(1, len(archs), figsize=(3.2 * len(archs) + 1, 0.45 * len(train_on) + 2.4),
                             squeeze=False)
    for ax, arch in zip(axes[0], archs):
        mat = np.array([[rows[f"{g}|{arch}"]["ap"][s] for s in sets] for g in train_on])
        im = ax.imshow(mat, vmin=0.5, vmax=1.0, cmap="viridis")
        ax.set_xticks(range(len(sets)), sets, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(train_on)), train_on if ax is axes[0][0] else [""] * len(train_on), fontsize=7)
        for i in range(len(train_on)):
            for j in range(len(sets)):
                ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="w" if mat[i, j] < 0.8 else "k")
        ax.set_title(arch, fontsize=9)
    axes[0][0].set_ylabel("trained on")
    fig.colorbar(im, ax=axes[0].tolist(), fraction=0.02)
    fig.suptitle("AP (fake = positive) on each test set; rows: training generator", fontsize=10)
    fig.savefig(args.out / "cross_generator.png", dpi=110, bbox_inches="tight")
    plt.close(fig)

    lines = ["# Cross-generator generalisation (bundled generators)", "",
             f"Produced by `python benchmarks/cross_generator.py --steps {args.steps} --size {args.size}` "
             "(reruns resume from runs/cross_generator/rows.json).", "",
             "The `gmm` family works at 64 px, so its samples go 64 -> 128 px while the reals go "
             f"{args.native} -> 128 px: its column has a resize-history difference the others do not.", "",
             f"One detector per (training generator, architecture): fakes of ONE bundled generator vs CelebA "
             f"reals, both through the same path (centre square, Lanczos to {args.native} px, bicubic to "
             f"{args.size} px, PNG); random {args.crop} px crops, {args.steps} steps of batch 32, Adam 1e-3, flip augmentation, CPU, seed "
             f"{args.seed}. Test: held-out samples of every set vs held-out CelebA reals through the same path. "
             f"`web-stylegan` is an external set resized straight to {args.size} px (a different resize history "
             "from the reals, so read it with care). Test sets are not balanced (30% of each generator's samples vs "
             "300 held-out reals), so a detector that guesses has an AP equal to the fake fraction of the test "
             "set, about 0.3-0.4 here, not 0.5.", "",
             "## Mean AP on generators not seen in training", "",
             "| architecture | receptive field | " + " | ".join(f"train {g}" for g in train_on) +
             " | mean (bundled only) |", "|---|---|" + "---|" * (len(train_on) + 1)]
    for a in archs:
        unseen = [_unseen_mean(rows, g, a, sets) for g in train_on]
        bundled = [_unseen_mean(rows, g, a, sets, exclude_web=True) for g in train_on]
        lines.append(f"| {a} | {rows[f'{train_on[0]}|{a}']['receptive_field']} | " +
                     " | ".join(f"{v:.3f}" for v in unseen) + f" | {np.nanmean(bundled):.3f} |")
    means = {a: float(np.nanmean([_unseen_mean(rows, g, a, sets, exclude_web=True) for g in train_on])) for a in archs}
    best = max(means, key=means.get)
    full = [a for a in archs if a.endswith("_full")]
    lines += ["", f"Best mean AP on unseen bundled generators: **{best}** ({means[best]:.3f})" +
              "".join(f"; whole-image {a}: {means[a]:.3f}" for a in full) +
              f". Chance level is about {_chance_ap(args):.2f}. With {args.steps} training steps these are short "
              "runs: read the differences between rows, not the absolute values."]
    lines += ["", "## Every cell", ""]
    for g in train_on:
        lines += [f"### trained on {g}", "", "| architecture | " + " | ".join(sets) + " | train s |",
                  "|---|" + "---|" * len(sets) + "---|"]
        for a in archs:
            r = rows[f"{g}|{a}"]
            lines.append(f"| {a} | " + " | ".join(("**%.3f**" if s == g else "%.3f") % r["ap"][s] for s in sets)
                         + f" | {r['train_seconds']} |")
        lines.append("")
    lines += ["![cross-generator AP](cross_generator.png)", ""]
    (args.out / "cross_generator.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
