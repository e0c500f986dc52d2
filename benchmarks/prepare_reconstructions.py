"""Make the aligned-fake set: real training photos passed through a small latent autoencoder.

    python benchmarks/prepare_reconstructions.py     # runs/data/ae_recon (+ the autoencoder in runs/ae_recon_model)

The autoencoder (`generators.autoencoder`: a 4x latent decoded by nearest-neighbour + conv blocks, the
shape of a latent diffusion model's decoder, one level shallower) trains on crops of the real photos'
training files (or is loaded from --model-dir when one is there), then rebuilds each one at native
resolution, each channel moved to the photo's mean and spread (the brief training leaves a colour cast).
A reconstruction keeps its photo's size and is saved in the photo's format: a JPEG photo's reconstruction
with the photo's own quantization tables and chroma subsampling, so the two differ by the decoder's traces
only. Only files in the training split of their source (`forensics.data.in_validation`, the recipe's 15%)
are used, so no validation photo's content is a fake.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
# 4x latent, 16 channels: an 8x one with 8 channels, trained as long (minutes on a CPU), blurred faces and
# shifted colours, so its fakes would have differed from their photos by blur, not by decoder traces
AUTOENCODER = {"widths": (32, 64, 128), "latent": 16}
# each real source of the recipe and how many of its training files to rebuild (CelebA: a sample)
SOURCES = {"celeba": (DATA / "real/celeba/train", 800), "faces-hq": (DATA / "real/faces-hq", None),
           "imagenet-sample": (DATA / "real/imagenet-sample", None), "cbsd68": (DATA / "real/cbsd68", None)}


def save_like(rgb, src, out: Path) -> None:
    """Save `rgb` to `out` in the format of the open photo `src`: a JPEG with its quantization tables and
    subsampling, a greyscale photo in grey. Written to a temporary name and renamed, so an interrupted run
    leaves no half-written file for the next run to skip."""
    from PIL import Image, JpegImagePlugin

    img = Image.fromarray(rgb).convert("L") if src.mode == "L" else Image.fromarray(rgb)
    tmp = out.with_name(out.name + ".part")
    if src.format == "JPEG":
        img.save(tmp, "JPEG", qtables=src.quantization, subsampling=JpegImagePlugin.get_sampling(src))
    else:
        img.save(tmp, "PNG")
    tmp.replace(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "data" / "ae_recon")
    ap.add_argument("--model-dir", type=Path, default=REPO / "runs" / "ae_recon_model")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--val-fraction", type=float, default=0.15)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    import numpy as np
    from PIL import Image

    from forensics.data import in_validation, list_images
    from generators.autoencoder import (AutoencoderConfig, fit_autoencoder, load_autoencoder, reconstruct,
                                        save_autoencoder)

    files = {}
    for name, (folder, limit) in SOURCES.items():
        if not folder.is_dir():
            sys.exit(f"error: {folder} is missing (needs ../shared/data)")
        train = [f for f in list_images(folder) if not in_validation(f, args.val_fraction)]
        files[name] = train[:limit] if limit else train
    if (args.model_dir / "config.json").is_file():
        ae = load_autoencoder(args.model_dir, device=args.device)
    else:
        photos = [f for fs in files.values() for f in fs]
        ae = fit_autoencoder(photos, steps=args.steps, config=AutoencoderConfig(**AUTOENCODER), device=args.device)
        save_autoencoder(ae, args.model_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    abs_errors = []
    for name, fs in files.items():
        for f in fs:
            out = args.out / f"{name}__{f.name}"
            if out.is_file():
                continue
            with Image.open(f) as im:  # decoded once: its pixels and its format's settings
                rgb = np.asarray(im.convert("RGB"))
                rec = reconstruct(ae, rgb, match_colour=True)
                save_like(rec, im, out)
            abs_errors.append(float(np.abs(rec.astype(np.int16) - rgb).mean()))
        print(f"{name}: {len(fs)} reconstructions", flush=True)
    if abs_errors:
        print(f"mean absolute error {np.mean(abs_errors):.2f} (0-255) over {len(abs_errors)} new reconstructions")


if __name__ == "__main__":
    main()
