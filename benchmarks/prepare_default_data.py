"""Prepare the matched bundled-generator sets that the default detector's recipe trains on.

    python benchmarks/prepare_default_data.py            # writes runs/data/...

Real CelebA faces and every bundled generator's samples go through the same path: centre square,
Lanczos to the generators' native resolution (32 px; 64 px for a second real set that matches the
64 px gmm family), bicubic up to 128 px, PNG (forensics.matched).
"""
from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "data")
    ap.add_argument("--n", type=int, default=1500, help="samples per generator / reals")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--families", default="", help="comma list (default: every family with shipped weights)")
    args = ap.parse_args()

    import generators

    from forensics.matched import prepare_generator_set, prepare_real_set

    native = 32
    # matched reals at both generator resolutions: 32 px (most families) and 64 px (gmm)
    for real_native in (32, 64):
        prepare_real_set(DATA / "real/celeba/train", args.out / f"real_celeba{real_native}to{args.size}",
                         native=real_native, size=args.size, limit=args.n)
    fams = [f for f in args.families.split(",") if f] or [
        g for g in generators.list_generators() if (generators.default_weights_dir(g) / "config.json").is_file()]
    for name in fams:
        gen_native = generators.load_generator(generators.default_weights_dir(name)).resolution
        if gen_native != native:
            print(f"note: {name} is {gen_native} px; its set is still upsampled to {args.size}")
        prepare_generator_set(name, args.out / f"gen_{name}", n=args.n, size=args.size)
        print(f"{name}: ready")


if __name__ == "__main__":
    main()
