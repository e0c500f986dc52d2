"""Make the committed reference report: bundled generators and development image sets vs real faces.

    python benchmarks/reference_report.py                  # writes reports/reference/index.html (+ figures)
    python benchmarks/reference_report.py --model runs/x   # the same with another detector

Sets (at most --n images each):
- real `celeba-32to128`: CelebA validation faces through the bundled generators' data path (centre
  square, Lanczos to 32 px, bicubic to 128 px, PNG; `forensics.training.matched`): the matched reals;
- real `celeba`: the same CelebA validation JPEGs as published (178x218);
- real `faces-hq`: real high-resolution face photos;
- fake: every bundled generator that has shipped weights, sampled with seeds from --seed on (far
  from the seeds of the training sets) and upsampled to 128 px exactly like the matched reals;
- fake `web-stylegan-faces` and `ldif` (latent diffusion renders) from the development data.

Files of the development sets that the detector was trained on (its config's training record) are left
out, so every set is held out when the model's training split allows it; the report says otherwise.
Needs ../shared/data (the development images; never copied into the repository). Prepared images go to
--work (default runs/reference_data, ignored by git). Main figure for the README:
reports/reference/mean_heatmaps.png.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_REL = Path("..") / "shared" / "data"  # relative to the repository root, so reports hold no absolute paths


def held_out(folder: Path, config: dict) -> list[Path]:
    """Image files of `folder` the model described by `config` was not trained on."""
    from forensics.analysis.overlap import training_split, was_trained_on
    from forensics.data import list_images

    folders, fraction = training_split(config, bases=[REPO])
    return [f for f in list_images(folder) if not was_trained_on(f, folders, fraction)]


def generator_names() -> list[str]:
    """Bundled generator families that ship weights."""
    import generators

    return [g for g in generators.list_generators() if (generators.default_weights_dir(g) / "config.json").is_file()]


def build_sets(n: int, work: Path, config: dict, *, seed: int, size: int, progress: bool) -> list:
    """The real and fake ImageSets of the reference report (preparing matched sets into `work`)."""
    from forensics.analysis.pipeline import ImageSet
    from forensics.training.matched import prepare_generator_set, prepare_real_set

    data = DATA_REL
    celeba_val = data / "real" / "celeba" / "val"
    sets = [ImageSet.from_folder("celeba-32to128", prepare_real_set(
        celeba_val, work / f"celeba_val_32to{size}", native=32, size=size, limit=n, progress=progress),
        is_real=True)]
    sets.append(ImageSet.from_files("celeba", held_out(celeba_val, config), is_real=True, limit=n))
    sets.append(ImageSet.from_files("faces-hq", held_out(data / "real" / "faces-hq", config), is_real=True, limit=n))
    for name in generator_names():
        folder = prepare_generator_set(name, work / f"gen_{name}_seed{seed}_{size}", n=n, size=size, seed=seed,
                                       progress=progress)
        sets.append(ImageSet.from_folder(name, folder, is_real=False, limit=n))
    for name, sub in (("web-stylegan-faces", "fake/web-stylegan-faces"), ("ldif", "fake/diffusion/ldif")):
        sets.append(ImageSet.from_files(name, held_out(data / sub, config), is_real=False, limit=n))
    return [s for s in sets if s.paths]


def readme(summary: dict, metrics: dict, command: str) -> str:
    """A short markdown index of the reference report folder (regenerated with the report)."""
    def f(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    lines = [f"# Reference report ({summary['model']})", "",
             "Open [index.html](index.html) in a browser (the figures beside it are part of the page).", "",
             f"Made by `{command}` on {summary['images']} images in {summary['seconds']:.0f} s (CPU).", "",
             "| fake set | images | AP (vs all reals pooled) | accuracy at the model's threshold (with all reals) |", "|---|---:|---:|---:|"]
    for name, m in summary["fake_sets"].items():
        lines.append(f"| {name} | {m['n']} | {f(m['ap'], '.3f')} | {f(m['accuracy'], '.1%')} |")
    lines += ["", "| real set | images | called fake |", "|---|---:|---:|"]
    for name, r in metrics["real_sources"].items():
        lines.append(f"| {name} | {r['n']} | {r['fpr']:.1%} |")
    lines += ["", "Files: `index.html` (the report), `mean_heatmaps.png` (main figure: mean P(fake) map per set and "
              "its difference to the reals), `top_patches.png`, `regions.png`, `spectra.png`, `analysis.json`, "
              "`metrics.json`, `summary.json`.", "",
              "Heatmaps show where the detector finds artifact evidence, not segmentations of fake regions. The "
              "absence of provenance signals is not evidence of authenticity.", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="detector directory or shipped name (default: embedded default)")
    ap.add_argument("--out", type=Path, default=Path("reports") / "reference", help="output folder (repo-relative)")
    ap.add_argument("--work", type=Path, default=Path("runs") / "reference_data",
                    help="prepared images (repo-relative)")
    ap.add_argument("--n", type=int, default=60, help="images per set")
    ap.add_argument("--seed", type=int, default=1_000_000, help="first sampling seed of the generator sets")
    ap.add_argument("--size", type=int, default=128, help="size the generator samples and matched reals go to")
    ap.add_argument("--top-k", type=int, default=24)
    ap.add_argument("--worst", type=int, default=6)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--inline", action="store_true", help="inline the figures too (default: beside index.html)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    os.chdir(REPO)
    if not DATA_REL.is_dir():
        print(f"error: development data {DATA_REL.resolve()} not found", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    from forensics.detector import Detector
    from forensics.report import report_for_sets

    t0 = time.time()
    det = Detector.load(args.model, device=args.device)
    progress = not args.quiet
    sets = build_sets(args.n, args.work, det.config, seed=args.seed, size=args.size, progress=progress)
    print("sets: " + ", ".join(f"{s.name} ({'real' if s.is_real else 'fake'}, {len(s.paths)})" for s in sets),
          file=sys.stderr)
    command = "python benchmarks/reference_report.py " + " ".join(sys.argv[1:])
    notes = [f"Bundled generators sampled with seeds {args.seed}..{args.seed + args.n - 1} and upsampled to "
             f"{args.size} px with the matched path (forensics.training.matched); `celeba-32to128` are real CelebA "
             "validation faces through the same path, so those sets differ only in how the face was made.",
             "Development sets keep only the files the detector was not trained on (per its training record)."]
    out_html = args.out / "index.html"
    path, analysis, metrics = report_for_sets(
        det, sets, out_html, top_k=args.top_k, n_worst=args.worst, figures_dir=args.out,
        title=f"forensics reference report ({det.model_id})", command=command.strip(), progress=progress,
        log=lambda m: print(m, file=sys.stderr), notes=notes, link_figures=not args.inline)
    seconds = time.time() - t0
    n_images = sum(s.n for s in analysis.sets.values())
    summary = {"model": det.model_id, "images": n_images, "seconds": round(seconds, 1),
               "fake_sets": {k: {"ap": v["ap"], "accuracy": v["accuracy"], "n": v["n_fake"]}
                             for k, v in metrics["fake_sets"].items()},
               "real_sources": metrics["real_sources"]}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    (args.out / "README.md").write_text(readme(summary, metrics, command.strip()), encoding="utf-8")
    for name, m in summary["fake_sets"].items():
        ap_s = "n/a" if m["ap"] is None else f"{m['ap']:.3f}"
        print(f"{name:>20}: AP {ap_s}  accuracy {m['accuracy']:.1%}  (n={m['n']})", file=sys.stderr)
    for name, r in metrics["real_sources"].items():
        print(f"{name:>20}: called fake {r['fpr']:.1%}  (n={r['n']})", file=sys.stderr)
    print(f"{n_images} images in {seconds:.0f} s", file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
