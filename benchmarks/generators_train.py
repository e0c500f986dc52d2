"""Train one bundled generator family on real faces, save its weights, record the loss curve.

    python benchmarks/generators_train.py dcgan --steps 2000 --resolution 32 --out generators/weights/dcgan
    python benchmarks/generators_train.py stylegan --steps 4000 --minutes 30 --checkpoint /tmp/ckpt/stylegan
    python benchmarks/generators_train.py stylegan --init generators/weights/stylegan --minutes 20   # continue

Writes OUT/model.safetensors + OUT/config.json, reports/generators/NAME_history.json,
reports/generators/NAME_loss.png and a quick sample grid reports/generators/NAME_train_grid.png.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "real" / "celeba" / "train"
REPORTS = ROOT / "reports" / "generators"


def parse_value(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    if "," in v:
        return tuple(parse_value(x) for x in v.split(",") if x)
    return v


def plot_history(name: str, history: dict[str, list[float]], path: Path) -> None:
    steps = max((len(v) for v in history.values()), default=0)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys = [k for k, v in history.items() if v]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    for ax, k in zip(axes[0], keys):
        v = np.asarray(history[k], float)
        x = np.linspace(1, steps, len(v)) if steps else np.arange(1, len(v) + 1)  # r1 is logged every few steps
        w = max(1, len(v) // 50)
        ax.plot(x, v, lw=0.5 if w > 1 else 1.5, alpha=0.35 if w > 1 else 1.0, color="C0", marker=None if w > 1 else ".")
        if w > 1:
            sm = np.convolve(v, np.ones(w) / w, mode="valid")
            ax.plot(x[w - 1:], sm, color="C1", lw=1.5, label=f"mean of {w}")
            ax.legend(fontsize=7)
        ax.set_title(f"{name}: {k}")
        ax.set_xlabel("EM iteration" if name == "gmm" else "training step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("family")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--resolution", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="weights folder (default generators/weights/FAMILY)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=None, help="stop early after this much training time")
    ap.add_argument("--checkpoint", type=Path, default=None, help="checkpoint folder (weights + history)")
    ap.add_argument("--checkpoint-every", type=int, default=250)
    ap.add_argument("--init", type=Path, default=None, help="continue training from these saved weights")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    args = ap.parse_args()

    import os
    os.environ.setdefault("GENERATORS_LOG_EVERY", "100")
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    import generators
    from generators._common import image_grid, load_images
    from PIL import Image

    overrides = {k: parse_value(v) for k, v in (s.split("=", 1) for s in args.set)}
    if args.resolution:
        overrides["resolution"] = args.resolution
    if args.init:
        gen = generators.get_generator_class(args.family).load(args.init)
        if overrides:
            gen.config = dataclasses.replace(gen.config, **overrides)
        previous = REPORTS / f"{args.family}_history.json"
        earlier = json.loads(previous.read_text())["history"] if previous.is_file() else {}
        segments = gen.provenance.get("segments", [{"steps": gen.provenance.get("steps"),
                                                    "seconds": gen.provenance.get("seconds")}])
    else:
        gen, earlier, segments = generators.create_generator(args.family, **overrides), {}, []
    t = time.time()
    images = load_images(args.data, gen.resolution)
    print(f"loaded {len(images)} images at {gen.resolution}px in {time.time() - t:.1f}s", flush=True)
    t = time.time()
    gen.fit(images, steps=args.steps, device=args.device, progress=False, checkpoint_dir=args.checkpoint,
            checkpoint_every=args.checkpoint_every, max_seconds=args.minutes * 60 if args.minutes else None)
    gen.provenance["data"] = str(args.data.relative_to(ROOT.parent)) if args.data.is_relative_to(ROOT.parent) \
        else str(args.data)
    print(f"trained {args.family} in {time.time() - t:.1f}s", flush=True)
    if earlier:  # a continued run: the loss curve covers every segment
        gen.history = {k: earlier.get(k, []) + v for k, v in gen.history.items()}
    # one entry per training segment, so a config override of a continued run (e.g. ProGAN trained on at
    # full resolution with start_resolution=32) is not mistaken for how the first segment was trained
    gen.provenance["segments"] = segments + [{"steps": gen.provenance["steps"], "seconds": gen.provenance["seconds"],
                                              "overrides": {k: str(v) for k, v in overrides.items()}}]
    out = gen.save(args.out or generators.default_weights_dir(args.family))
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{args.family}_history.json").write_text(json.dumps(
        {"family": args.family, "training": gen.provenance, "config": gen.config_dict(), "history": gen.history}))
    plot_history(args.family, gen.history, REPORTS / f"{args.family}_loss.png")
    grid = image_grid(generators.load_generator(out).sample(64, seed=0, device=args.device), scale=2)
    Image.fromarray(grid).save(REPORTS / f"{args.family}_train_grid.png")
    print(f"saved {out} ({(out / 'model.safetensors').stat().st_size / 1e6:.2f} MB)", flush=True)


if __name__ == "__main__":
    main()
