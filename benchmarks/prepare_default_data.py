"""Prepare the matched bundled-generator sets that the default detector's recipe trains on.

    python benchmarks/prepare_default_data.py            # writes runs/data/...

Real CelebA faces and every bundled generator's samples go through the same path: centre square,
Lanczos to the generators' native resolution (32 px; 64 px for a second real set that matches the
64 px gmm family), bicubic up to 128 px, PNG (forensics.training.matched).

Every stage of the recipe trained on 1500 samples per generator except diffusion, which has the
first 384 (seeds 0-383: the set an early session's preparation left after six batches of its slow
sampler); `SAMPLES_PER_FAMILY` keeps that count so the stages and the card reproduce. A folder that
already holds more images than its count is an error, since training reads every image in it.

It also renders `GRAPHICS` procedural graphics (`forensics.rendered`: gradients, colour wheels, shapes,
text, patterns, layouts; seeds 0 to GRAPHICS - 1) to runs/data/rendered_graphics, a real-class source
for the recipes that train on them (from v49).
"""
from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SAMPLES_PER_FAMILY = {"diffusion": 384}
GRAPHICS = 600


def check_not_overfull(folder: Path, n: int) -> None:
    """Exit with one line if `folder` holds more PNG files than the recipe's `n`."""
    held = len(list(folder.glob("*.png"))) if folder.is_dir() else 0
    if held > n:
        raise SystemExit(f"error: {folder} holds {held} images but the recipe trains on {n}; "
                         f"move the extra files away (the recipe uses seeds 0-{n - 1})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "data")
    ap.add_argument("--n", type=int, default=1500,
                    help="samples per generator / reals (diffusion: %d, the recipe's count)" % SAMPLES_PER_FAMILY["diffusion"])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--families", default="", help="comma list (default: every family with shipped weights)")
    args = ap.parse_args()

    import generators

    from forensics.training.matched import prepare_generator_set, prepare_real_set
    from forensics.rendered import write_graphics

    check_not_overfull(args.out / "rendered_graphics", GRAPHICS)
    write_graphics(args.out / "rendered_graphics", GRAPHICS)
    print("rendered graphics: ready")

    native = 32
    # matched reals at both generator resolutions: 32 px (most families) and 64 px (gmm)
    for real_native in (32, 64):
        real_out = args.out / f"real_celeba{real_native}to{args.size}"
        check_not_overfull(real_out, args.n)
        prepare_real_set(DATA / "real/celeba/train", real_out, native=real_native, size=args.size, limit=args.n)
    fams = [f for f in args.families.split(",") if f] or [
        g for g in generators.list_generators() if (generators.default_weights_dir(g) / "config.json").is_file()]
    for name in fams:
        gen_native = generators.load_generator(generators.default_weights_dir(name)).resolution
        if gen_native != native:
            print(f"note: {name} is {gen_native} px; its set is still upsampled to {args.size}")
        n = min(args.n, SAMPLES_PER_FAMILY.get(name, args.n))
        check_not_overfull(args.out / f"gen_{name}", n)
        prepare_generator_set(name, args.out / f"gen_{name}", n=n, size=args.size)
        print(f"{name}: ready")


if __name__ == "__main__":
    main()
