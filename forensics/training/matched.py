"""Matched real/fake image sets: both classes go through exactly the same resize/format path.

Bundled generators learn from real faces centre-cropped and resized (Lanczos) to their native
resolution. `prepare_real_set` puts real images through that same path, `prepare_generator_set`
samples the generator; both are then upsampled identically to `size` and saved as PNG, so a
detector cannot separate them on size, resampling or compression history.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from forensics.data import list_images
from forensics.decoding import ImageDecodeError, load_image
from forensics.fileio import replaced_atomically
from forensics.progress import progress_bar


def center_square(rgb: np.ndarray, resolution: int) -> np.ndarray:
    """Centre square crop + Lanczos resize (the generators' training-data path)."""
    h, w = rgb.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    img = Image.fromarray(rgb[top:top + s, left:left + s])
    return np.asarray(img.resize((resolution, resolution), Image.LANCZOS), dtype=np.uint8)


def upsample(rgb: np.ndarray, size: int) -> np.ndarray:
    """The shared final resize of both classes (bicubic)."""
    if rgb.shape[0] == size and rgb.shape[1] == size:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.BICUBIC), dtype=np.uint8)


def _save_png(rgb: np.ndarray, dst: Path) -> None:
    """Write via a temp name + rename, so an interrupted preparation never leaves a torn PNG."""
    with replaced_atomically(dst) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")


def _done(out: Path, n: int) -> bool:
    return out.is_dir() and len(list(out.glob("*.png"))) >= n


def prepare_real_set(src: Path, out: Path, *, native: int, size: int, limit: Optional[int] = None,
                     start: int = 0, progress: bool = True) -> Path:
    """Real images -> centre square at `native` px -> upsampled to `size` -> PNG files in `out`."""
    files = list_images(src)[start:]
    files = files[:limit] if limit else files
    out.mkdir(parents=True, exist_ok=True)
    if _done(out, len(files)):
        return out
    for f in progress_bar(files, desc=f"real {src.name}", enabled=progress):
        dst = out / f"{f.stem}.png"
        if dst.exists():
            continue
        try:
            rgb = load_image(f).rgb
        except ImageDecodeError:
            continue
        _save_png(upsample(center_square(rgb, native), size), dst)
    return out


def prepare_generator_set(name: str, out: Path, *, n: int, size: int, seed: int = 0,
                          weights: Optional[Path] = None, batch: int = 64, progress: bool = True) -> Path:
    """Sample `n` images from a bundled generator (shipped weights) and upsample them to `size`."""
    import generators

    out.mkdir(parents=True, exist_ok=True)
    if _done(out, n):
        return out
    gen = generators.load_generator(weights or generators.default_weights_dir(name))
    for start in progress_bar(range(0, n, batch), desc=f"sample {name}", enabled=progress):
        seeds = list(range(seed + start, seed + min(n, start + batch)))
        if all((out / f"{name}_{s:06d}.png").exists() for s in seeds):
            continue
        imgs = gen.sample_seeds(seeds, device="cpu")
        for s, img in zip(seeds, imgs):
            _save_png(upsample(img, size), out / f"{name}_{s:06d}.png")
    return out


def prepare_resized_set(src: Path, out: Path, *, size: int, limit: Optional[int] = None, start: int = 0,
                        progress: bool = True) -> Path:
    """Any image folder -> centre square resized straight to `size` (Lanczos) -> PNG."""
    return prepare_real_set(src, out, native=size, size=size, limit=limit, start=start, progress=progress)
